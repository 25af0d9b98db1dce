// Package sandbox runs untrusted programs on Linux, isolated by namespaces,
// a minimal read-only root and seccomp.
//
// # Quick start
//
//	cmd := sandbox.Command("/bin/sh", "-c", "echo hello from $(hostname)")
//	cmd.Stdout = os.Stdout
//	res, err := sandbox.Run(cmd)
//	if err != nil {
//		// The sandbox could not be built or the program not started.
//	}
//	fmt.Println(res.Status, res.ExitCode)
//
// With no options, [Run] applies the secure default: user, pid, mount, net,
// ipc, uts and cgroup namespaces; a fresh root on tmpfs with the host's /usr
// (and its merged-/usr links) bound read-only, a private /etc, /proc, /dev
// and /tmp; the sandbox user 65534:65534 with no capabilities and
// no_new_privs; only fds 0-2 (plus [Cmd.ExtraFiles]); PATH alone (Docker's) as the environment;
// and Docker's default seccomp profile, loaded last before execve.
//
// # Privileges
//
// Run works as root and rootless. As root, the sandbox user maps to the
// unprivileged host id 65534 (never to host root). Rootless, it maps to the
// caller's own uid and gid, which needs unprivileged user namespaces
// (kernel.unprivileged_userns_clone=1 on Debian, the default).
//
// # Kernel requirements
//
// Linux 5.12 or later (open_tree, move_mount, mount_setattr, close_range,
// CLONE_PIDFD, pidfd_getfd, seccomp user notification) on amd64 or arm64,
// and cgo with libseccomp 2.5 or later. clone3 with CLONE_INTO_CGROUP (5.7)
// is used where the kernel has it. Where a protection that was asked for is missing,
// Run fails with an error that matches [ErrUnsupported]; it never degrades
// silently.
//
// # Policies
//
// [WithDockerDefault] (the default), [WithDockerDefaultKill], [WithProfile]
// and [WithProfileFile] install a seccomp filter; the calls it denies are in
// [Result.Violations]. [WithStrict] runs a static guest in
// SECCOMP_MODE_STRICT. [Learn] writes a profile for a program by watching it.
//
// # Limits
//
// [WithTimeout], [WithCPUTime], [WithMemory], [WithPids], [WithOutputLimit],
// [WithFileSize], [WithOpenFiles], [WithCPUs] and [WithTmpfsInodes]; the
// ones a cgroup enforces (v2 or v1, found at run time) fail closed where no
// cgroup can be made, unless [WithBestEffort]. [Result.Status] gives the
// verdict, [Result.Enforced] what enforced each limit. Call
// [Shutdown] at exit: the cgroups are kept for reuse between runs.
//
// # Errors
//
// Run returns an error only when the sandbox could not be built or the
// program could not be started: a [*ConfigError] for bad options or input, a
// [*SetupError] for a failed setup step, an [*ExecError] (matching
// [ErrNotFound] or [ErrNotExecutable]) when the program cannot be executed,
// a [*GuestError] when strict mode refuses it, and anything matching
// [ErrUnsupported] when a protection asked for is not available here.
// Everything that happens once the program runs is in the [Result].
package sandbox

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Cmd is a program to run in a sandbox. Its fields have the meanings of
// os/exec's Cmd, except where said otherwise.
type Cmd struct {
	// Path is the program to run. A name without a slash is looked up,
	// inside the sandbox, in the PATH of Env (default
	// /usr/local/bin:/usr/bin:/bin).
	Path string
	// Args holds the arguments, the program name first. Empty means
	// {Path}.
	Args []string
	// Env is the whole environment of the program, "KEY=value" each.
	// Unlike os/exec, nothing of the caller's environment leaks in: nil
	// means what Docker gives a container, PATH=DefaultPath and nothing
	// else (compilers and shells need a PATH to find their helpers); an
	// empty non-nil slice means no variable at all. WithEnv adds to it.
	Env []string
	// Dir is the working directory inside the sandbox; empty means /tmp
	// (or the caller's when the mount namespace is off).
	Dir string
	// Stdin is the program's standard input; nil means /dev/null. An
	// *os.File that is a pipe or a character device (a terminal,
	// /dev/null) is passed as it is; any other reader, a regular file
	// included, is fed through a pipe: the program never holds the
	// caller's open file (to seek back, reopen it through
	// /proc/self/fd, or write to it).
	Stdin io.Reader
	// Stdout and Stderr are the program's standard output and error; nil
	// means /dev/null. An *os.File that is a pipe or a character device
	// is passed as it is; any other writer, a regular file (a log, say)
	// or a socket included, is fed from a pipe, so that the program
	// cannot read back, truncate or rewrite what the file held (see
	// WithDirectFiles). When both are the same writer, one pipe serves
	// both. A writer that is not an *os.File gets at most
	// DefaultOutputLimit bytes unless WithOutputLimit says otherwise: past
	// them the program is killed, Status OutputExceeded.
	Stdout io.Writer
	Stderr io.Writer
	// ExtraFiles become fds 3, 4, ... of the program. No other fd of the
	// caller reaches it. Entries must not be nil.
	ExtraFiles []*os.File
}

// Command returns a Cmd that runs name with args. Unlike os/exec.Command it
// does not look name up on the host: the lookup happens inside the sandbox.
func Command(name string, arg ...string) *Cmd {
	return &Cmd{Path: name, Args: append([]string{name}, arg...)}
}

// Status is how a sandboxed program ended.
type Status uint8

// The statuses.
const (
	// Exited: the program exited by itself; see ExitCode.
	Exited Status = iota + 1
	// Signaled: a signal killed it; see Signal.
	Signaled
	// SeccompKilled: the seccomp policy killed it: SIGSYS under a filter,
	// SIGKILL in strict mode (never one the supervisor sent).
	SeccompKilled
	// Timeout: the wall-clock limit (WithTimeout, or ctx's deadline) ran
	// out and the supervisor killed the sandbox.
	Timeout
	// CPUTimeExceeded: the CPU-time limit was spent.
	CPUTimeExceeded
	// MemoryExceeded: the kernel's OOM killer acted in the sandbox's
	// cgroup (its OOM event, never guessed from a SIGKILL).
	MemoryExceeded
	// OutputExceeded: stdout and stderr together went past the output
	// limit.
	OutputExceeded
	// Canceled: the context of RunContext was cancelled and the
	// supervisor killed the sandbox.
	Canceled
)

var statusNames = map[Status]string{
	Exited:          "exited",
	Signaled:        "signaled",
	SeccompKilled:   "seccomp_killed",
	Timeout:         "timeout",
	CPUTimeExceeded: "cpu_time_exceeded",
	MemoryExceeded:  "memory_exceeded",
	OutputExceeded:  "output_exceeded",
	Canceled:        "canceled",
}

// String returns the status in snake case, as in the CLI's JSON.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) {
	if _, ok := statusNames[s]; !ok {
		return nil, fmt.Errorf("sandbox: unknown status %d", s)
	}
	return []byte(s.String()), nil
}

// SeccompMode is the seccomp policy a program ran under.
type SeccompMode uint8

// The seccomp modes.
const (
	// DockerDefault is Docker's default profile: denied calls get EPERM.
	DockerDefault SeccompMode = iota + 1
	// DockerDefaultKill is Docker's default profile with its default
	// action switched to killing the process.
	DockerDefaultKill
	// Unconfined is no seccomp filter at all.
	Unconfined
	// Custom is a Docker-format profile given by the caller.
	Custom
	// Strict is SECCOMP_MODE_STRICT (see WithStrict).
	Strict
	// Learning is a Learn run: every call allowed and recorded.
	Learning
)

var modeNames = map[SeccompMode]string{
	DockerDefault:     "docker-default",
	DockerDefaultKill: "docker-default-kill",
	Unconfined:        "unconfined",
	Custom:            "custom",
	Strict:            "strict",
	Learning:          "learn",
}

// String returns the mode's name, as the CLI's --seccomp takes it.
func (m SeccompMode) String() string {
	if n, ok := modeNames[m]; ok {
		return n
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (m SeccompMode) MarshalText() ([]byte, error) {
	if _, ok := modeNames[m]; !ok {
		return nil, fmt.Errorf("sandbox: unknown seccomp mode %d", m)
	}
	return []byte(m.String()), nil
}

// Violation is a system call the seccomp policy denied.
type Violation struct {
	// Syscall is the call's name, or "unknown".
	Syscall string
	// Number is the call's number on Arch, or -1 when unknown.
	Number int
	// Arch is the ABI of the call ("x86_64", "x86", "x32", ...).
	Arch string
	// Action is what the policy did.
	Action ViolationAction
	// Args are the call's six arguments, where the source has them.
	Args [6]uint64
	// Source is how the supervisor learned of the call.
	Source ViolationSource
}

// ViolationAction is what the policy did to a denied call. Its values are
// the CLI's JSON names.
type ViolationAction string

// The actions a Violation reports.
const (
	// ActionErrno: the call failed with the profile's errno.
	ActionErrno ViolationAction = "errno"
	// ActionKill: the calling process was killed (SCMP_ACT_KILL_PROCESS,
	// the kill variant of Docker's profile, strict mode).
	ActionKill ViolationAction = "kill"
	// ActionKillThread: the calling thread was killed (SCMP_ACT_KILL,
	// SCMP_ACT_KILL_THREAD); the process may have gone on.
	ActionKillThread ViolationAction = "kill_thread"
	// ActionTrap, ActionTrace and ActionNotify: SCMP_ACT_TRAP,
	// SCMP_ACT_TRACE and SCMP_ACT_NOTIFY, as a LaunchDeniedError names
	// them (a Result reports none of these).
	ActionTrap   ViolationAction = "trap"
	ActionTrace  ViolationAction = "trace"
	ActionNotify ViolationAction = "notify"
)

// ViolationSource is how the supervisor learned of a denied call.
type ViolationSource string

// The sources of a Violation.
const (
	// SourceNotification: the filter's user notification, as the call
	// happened (errno actions and process kills).
	SourceNotification ViolationSource = "user-notification"
	// SourceAudit: the kernel's audit record of a kill the kernel
	// carried out (thread kills; readable as root only).
	SourceAudit ViolationSource = "audit"
	// SourcePtrace: strict mode's tracer.
	SourcePtrace ViolationSource = "ptrace"
	// SourceNone: a kill that nothing could name (Syscall "unknown").
	SourceNone ViolationSource = "none"
	// SourceProfile: read from the profile before the launch, in a
	// LaunchDeniedError.
	SourceProfile ViolationSource = "profile"
)

// Result is how a sandboxed program ended.
//
// When several things happen at once, Status follows this precedence:
// MemoryExceeded (the kernel's OOM event in the sandbox's cgroup) first,
// then OutputExceeded (the collectors saw more than the limit), then the
// limit the supervisor killed for first (Timeout, CPUTimeExceeded, or
// Canceled, when that SIGKILL is what ended the program), then
// SeccompKilled, Signaled and Exited from the program's wait status (which
// the sandbox's init reports: see WithoutInit).
type Result struct {
	// Status says how the program ended.
	Status Status
	// ExitCode is the exit code when Status is Exited, and 128+N when a
	// signal N ended the program, as a shell reports it.
	ExitCode int
	// Signal is the signal that ended the program, or 0.
	Signal syscall.Signal
	// CoreDumped says the signal that ended the program dumped its core
	// (the wait status's core-dump flag): only where its RLIMIT_CORE and
	// the host's core_pattern let it.
	CoreDumped bool
	// SeccompMode is the seccomp policy the program ran under.
	SeccompMode SeccompMode
	// WallTime is the time from the launch to the reaping of the program.
	WallTime time.Duration
	// CPUTime is the user plus system time of every process of the
	// sandbox, from its cgroup; where no cgroup can be had (rootless
	// without delegation), of the program and the descendants it waited
	// for, from rusage.
	CPUTime time.Duration
	// PeakMemory is the peak memory use of the sandbox in bytes, tmpfs
	// pages included, from its cgroup; 0 where no cgroup can be had,
	// since nothing else measures the whole sandbox. A cgroup is used
	// whenever one can be had, limits or not.
	PeakMemory int64
	// OutputTruncated says the output limit cut stdout and stderr.
	OutputTruncated bool
	// PidsLimitReached says the pids limit refused at least one fork or
	// clone (the cgroup's pids.events): the program saw EAGAIN, and may
	// have gone on. It does not change Status.
	PidsLimitReached bool
	// Enforced says what enforced each limit that was asked for.
	Enforced []Enforcement
	// Warnings says what of the configuration was not applied, without
	// failing the run: a profile's rule skipped for a syscall that no
	// table here knows (as runc and crun skip it).
	Warnings []string
	// Violations lists the system calls the policy denied, the first 64.
	Violations []Violation
	// ViolationCount counts them all.
	ViolationCount int
}

// PoolStats counts a Pool's runs (Pool.Stats).
type PoolStats struct {
	// Warm runs took a prepared sandbox.
	Warm int64
	// Cold runs found none ready and made their own.
	Cold int64
}
