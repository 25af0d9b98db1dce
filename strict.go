package sandbox

import (
	"errors"
	"strconv"
)

// WithStrict runs the program in SECCOMP_MODE_STRICT, Arcangeli's original
// seccomp: only read, write, exit and rt_sigreturn (not exit_group); any
// other system call kills it with SIGKILL (Status SeccompKilled, Signal
// SIGKILL, SeccompMode Strict). It suits a static guest that computes and
// talks over the fds it was given, and nothing else.
//
// Strict mode cannot be entered before execve, which it forbids. The
// supervisor attaches to the program (PTRACE_SEIZE) before its exec; at
// the exec, before the guest's first instruction, it injects
// prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) at the entry point,
// single-steps it, and restores the code and registers. It stays attached,
// to name the call strict mode kills for at the exit stop (and if the
// supervisor dies, so does the guest). The guest starts from execve in a
// fresh address space, as pid 2 under the sandbox's init (so a fault kills
// it at once); everything else of the sandbox applies as usual.
//
// The program must be a static ELF executable of the native arch (no
// PT_INTERP): anything else (a dynamic executable, a script, another arch)
// is refused before it runs, with a *GuestError. amd64 is tested; the arm64
// path compiles but has not been run.
func WithStrict() Option { return withPolicy("WithStrict", strictPolicy) }

var strictPolicy = &policy{mode: Strict}

// GuestError is a program that strict mode refuses: not a static ELF
// executable of the native arch. It matches ErrNotExecutable.
type GuestError struct {
	// Name is the program as given in Cmd.Path.
	Name string
	// Reason says why: a script, not ELF, another arch, dynamic.
	Reason string
}

// Error names the program and why strict mode refuses it.
func (e *GuestError) Error() string {
	return "sandbox: strict mode refuses " + strconv.Quote(e.Name) + ": " + e.Reason
}

// Unwrap returns ErrNotExecutable.
func (e *GuestError) Unwrap() error { return ErrNotExecutable }

// ErrStrictSetup is matched by the error of Run when entering strict mode
// failed in the supervisor (the ptrace injection).
var ErrStrictSetup = errors.New("entering strict mode failed")
