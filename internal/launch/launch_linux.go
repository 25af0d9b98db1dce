//go:build linux && cgo

// Package launch starts a sandboxed child: fresh namespaces, a list of
// setup steps run by a small C interpreter in the child, then execve.
//
// The child is forked by a zygote (zygote.c): a small process, started once
// per supervisor process from this executable before its Go runtime, so a
// launch costs the same whatever the size of the caller's heap and the
// child shares no memory with the caller. The steps are plain data built
// in Go; the child only interprets them with raw system calls and reports
// the index of a failed step and its errno.
package launch

/*
#include <stdlib.h>
#include "launcher.h"
*/
import "C"

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Step codes, from launcher.h.
const (
	codeSetsid         = C.SB_SETSID
	codeSetgroups      = C.SB_SETGROUPS
	codeSetresgid      = C.SB_SETRESGID
	codeSetresuid      = C.SB_SETRESUID
	codeMount          = C.SB_MOUNT
	codeOpenTree       = C.SB_OPEN_TREE
	codeMoveMount      = C.SB_MOVE_MOUNT
	codeSetattr        = C.SB_SETATTR
	codeMkdir          = C.SB_MKDIR
	codeCreate         = C.SB_CREATE
	codeSymlink        = C.SB_SYMLINK
	codeWriteFile      = C.SB_WRITE_FILE
	codePivotRoot      = C.SB_PIVOT_ROOT
	codeChdir          = C.SB_CHDIR
	codeSethostname    = C.SB_SETHOSTNAME
	codeLoopbackUp     = C.SB_LOOPBACK_UP
	codeCapbsetDrop    = C.SB_CAPBSET_DROP
	codeSecurebits     = C.SB_SECUREBITS
	codeClearCaps      = C.SB_CLEAR_CAPS
	codeNoNewPrivs     = C.SB_NO_NEW_PRIVS
	codePdeathsig      = C.SB_PDEATHSIG
	codeSetrlimit      = C.SB_SETRLIMIT
	codeFDs            = C.SB_FDS
	codeUnblockSignals = C.SB_UNBLOCK_SIGNALS
	codeSeccomp        = C.SB_SECCOMP
	codeExec           = C.SB_EXEC
	codeTracee         = C.SB_TRACEE
	codeUnshare        = C.SB_UNSHARE
	codeExecStatic     = C.SB_EXEC_STATIC
	codeInit           = C.SB_INIT
	codeUmask          = C.SB_UMASK
	codeNewKeyring     = C.SB_NEW_KEYRING
	codeResetSched     = C.SB_RESET_SCHED
	codeSlotFD         = C.SB_SLOT_FD
)

// Why ExecStatic refused a guest: the Err of its StepError.
const (
	ErrScript  = unix.Errno(C.SB_ESCRIPT)
	ErrNotELF  = unix.Errno(C.SB_ENOTELF)
	ErrArch    = unix.Errno(C.SB_EARCH)
	ErrDynamic = unix.Errno(C.SB_EDYNAMIC)
)

// The layout of the C structs, from C.
var (
	cfg  C.struct_sb_config
	stp  C.struct_sb_step
	rec  C.struct_sb_record
	req  C.struct_sb_request
	repl C.struct_sb_reply
)

const (
	stepSize   = int(unsafe.Sizeof(stp))
	stepArgs   = len(stp.a)
	configSize = int(unsafe.Sizeof(cfg))
	recordSize = int(unsafe.Sizeof(rec))
	offCode    = int(unsafe.Offsetof(stp.code))
	offFlags   = int(unsafe.Offsetof(stp.flags))
	offArgs    = int(unsafe.Offsetof(stp.a))
	offNSteps  = int(unsafe.Offsetof(cfg.nsteps))
	offNSlots  = int(unsafe.Offsetof(cfg.nslots))
	offSteps   = int(unsafe.Offsetof(cfg.steps))
	offSlots   = int(unsafe.Offsetof(cfg.slots))
)

// Spec is one launch.
type Spec struct {
	// CloneFlags are the CLONE_NEW* flags of the child.
	CloneFlags uintptr
	// UIDMap and GIDMap are written to the child's uid_map and gid_map
	// when CloneFlags has CLONE_NEWUSER.
	UIDMap, GIDMap string
	// DenySetgroups writes "deny" to the child's setgroups file first, as
	// an unprivileged parent must before it may write a gid_map.
	DenySetgroups bool
	// Program is what the child does between its fork and execve.
	Program *Program
	// Cgroup, when not nil, is a cgroup v2 directory the child is made in
	// (clone3 with CLONE_INTO_CGROUP). Where the kernel cannot, the child
	// is made as usual and Prepare must move it.
	Cgroup *os.File
	// Prepare, when set, is called with the child's pid after the id
	// maps are written and before the child runs its first step (to move
	// it into its cgroup, say), unless CgroupFD put it there already. An
	// error kills the child.
	Prepare func(pid int) error
	// Trace are the ptrace options (PTRACE_O_*) the program is attached
	// with at its Tracee step, by the thread that calls Start.
	Trace int
}

// Process is a started child.
type Process struct {
	// Pid and PidFD are the child: the sandbox's init, or the program
	// itself when the program has no Init step.
	Pid   int
	PidFD int
	// Guest is the program's pid (host pid namespace), or 0 when it
	// ended before its init told it.
	Guest int
	// Listener is the seccomp user-notification listener of the child's
	// filter, when its Seccomp step asked for one; non-blocking, so that
	// it waits in Go's netpoller.
	Listener *os.File
	// status is the pipe on which an init reports the program's wait
	// status, or -1.
	status int
	// guestFD is a pidfd of the program when an init is before it, or
	// -1 (then PidFD is the program's).
	guestFD int
	// traced says Guest is attached (Spec.Trace): its end must be reaped
	// by its tracer before its pid namespace can end.
	traced bool
}

// Start starts the child and returns once it has exec'd. A failure in the
// child comes back as a *StepError; the child is then already reaped.
// When ctx is done before the exec, the child is killed from outside,
// whatever it is doing, and the StepError wraps ctx's cause.
func Start(ctx context.Context, spec *Spec) (started *Process, err error) {
	var sync [2]int
	if err := unix.Pipe2(sync[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	// The child's reports come on a socket, so that its init can send a
	// pidfd with one (SCM_RIGHTS).
	errp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		unix.Close(sync[0])
		unix.Close(sync[1])
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	closeAll := func(fds ...int) {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}

	// The fds the child gets: the pipes first, then those of FDs steps,
	// by their index in this list, then the cgroup.
	fds := []int{sync[0], errp[1]}
	index := map[int32]int32{}
	blk, relocs := spec.Program.encode(func(fd int32) int32 {
		i, ok := index[fd]
		if !ok {
			i = int32(len(fds))
			index[fd] = i
			fds = append(fds, int(fd))
		}
		return i
	})
	cgroup := -1
	if spec.Cgroup != nil {
		cgroup = len(fds)
		fds = append(fds, int(spec.Cgroup.Fd()))
	}
	pid, inCgroup, err := zyg.spawn(uint64(spec.CloneFlags), blk, relocs, cgroup, fds)
	closeAll(sync[0], errp[1])
	if err == nil && pid < 0 {
		err = &StepError{Desc: Desc{Stage: "clone", Op: "clone"}, Err: unix.Errno(-pid)}
	}
	if err != nil {
		closeAll(sync[1], errp[0])
		return nil, err
	}
	// Our child (CLONE_PARENT), which nobody else can reap: its pid
	// stays its own until we wait for it.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		reap(pid)
		closeAll(sync[1], errp[0])
		return nil, &StepError{Desc: Desc{Stage: "clone", Op: "pidfd_open"}, Err: err}
	}
	proc := &Process{Pid: pid, PidFD: pidfd, Guest: pid, status: -1, guestFD: -1}
	// A launcher that cannot finish (a filter that denies what it needs,
	// a hung step) is killed at the deadline: setup runs under it too.
	g := &guard{fd: proc.PidFD}
	stopGuard := context.AfterFunc(ctx, g.kill)
	defer func() {
		stopGuard()
		// Disarmed before the pidfd may be closed and its number
		// reused. Killed at the deadline, whatever failed next (a
		// broken pipe, the pipe's EOF taken for an exec) was the
		// kill's doing.
		if !g.disarm() {
			return
		}
		if err == nil {
			proc.Abort()
			started = nil
		}
		err = &StepError{Desc: Desc{Stage: "launch", Op: "setup"}, Err: context.Cause(ctx)}
	}()

	fail := func(err error) (*Process, error) {
		closeAll(sync[1], errp[0])
		proc.kill()
		return nil, err
	}
	if spec.CloneFlags&unix.CLONE_NEWUSER != 0 {
		if err := writeIDMaps(pid, spec); err != nil {
			return fail(err)
		}
	}
	if spec.Prepare != nil && !inCgroup {
		if err := spec.Prepare(pid); err != nil {
			return fail(err)
		}
	}
	// Release the child.
	if _, err = unix.Write(sync[1], []byte{0}); err != nil {
		return fail(&StepError{Desc: Desc{Stage: "clone", Op: "release child"}, Err: err})
	}
	running, err := proc.readStatus(spec, errp[0], sync[1])
	unix.Close(sync[1])
	if err != nil {
		unix.Close(errp[0])
		proc.kill()
		return nil, err
	}
	if running {
		proc.status = errp[0] // the init's report of the program's end comes on it
	} else {
		unix.Close(errp[0])
	}
	return proc, nil
}

// reap waits for pid to end.
func reap(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}

// guard kills a launching child through its pidfd, until disarmed.
type guard struct {
	mu       sync.Mutex
	fd       int
	disarmed bool
	fired    bool
}

func (g *guard) kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.disarmed {
		g.fired = true
		_ = unix.PidfdSendSignal(g.fd, unix.SIGKILL, nil, 0)
	}
}

// disarm stops the guard and says whether it had fired.
func (g *guard) disarm() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.disarmed = true
	return g.fired
}

// readStatus reads the child's reports until the program runs: its exec
// closed the pipe (no init: running is false), or its init said it
// started (running is true); or a step failed.
func (proc *Process) readStatus(spec *Spec, errp, sync int) (running bool, err error) {
	for {
		var b [recordSize]byte
		n, fd, err := readRecord(errp, b[:])
		switch {
		case err != nil:
			return false, &StepError{Desc: Desc{Stage: "exec", Op: "read child status"}, Err: err}
		case n == 0:
			return false, nil // exec'd
		case n != recordSize:
			return false, &StepError{Desc: Desc{Stage: "exec", Op: "read child status"}, Err: unix.EIO}
		}
		step := int(int32(binary.NativeEndian.Uint32(b[0:])))
		code := int(int32(binary.NativeEndian.Uint32(b[4:])))
		if fd >= 0 && step != C.SB_STARTED {
			unix.Close(fd) // none other comes with an fd
		}
		switch step {
		case C.SB_LISTENER:
			fd, err := unix.PidfdGetfd(proc.PidFD, code, 0)
			if err != nil {
				return false, &StepError{Desc: Desc{Stage: "seccomp", Op: "pidfd_getfd listener"}, Err: err}
			}
			// Non-blocking before it becomes a File: then the File
			// is pollable, in Go's netpoller.
			if err := unix.SetNonblock(fd, true); err != nil {
				unix.Close(fd)
				return false, &StepError{Desc: Desc{Stage: "seccomp", Op: "listener O_NONBLOCK"}, Err: err}
			}
			proc.Listener = os.NewFile(uintptr(fd), "seccomp-listener")
			if _, err := unix.Write(sync, []byte{0}); err != nil {
				return false, &StepError{Desc: Desc{Stage: "seccomp", Op: "hand over listener"}, Err: err}
			}
		case C.SB_TRACEE:
			pid, err := proc.pidOf(code)
			if err == nil {
				err = seize(pid, spec.Trace)
			}
			if err != nil {
				return false, &StepError{Desc: Desc{Stage: "trace", Op: "PTRACE_SEIZE"}, Err: err}
			}
			proc.Guest, proc.traced = pid, true
			if _, err := unix.Write(sync, []byte{0}); err != nil {
				return false, &StepError{Desc: Desc{Stage: "trace", Op: "resume the program"}, Err: err}
			}
		case C.SB_STARTED:
			// A program that has ended already (and been reaped by
			// its init) has no pid left to know, nor need of one.
			if pid, err := pidOfPidfd(fd); err == nil {
				proc.Guest = pid
			} else if !proc.traced {
				proc.Guest = 0
			}
			proc.guestFD = fd // kept, for Signal
			return true, nil
		default:
			d := Desc{Stage: "launcher", Op: "step " + strconv.Itoa(step)}
			if p := spec.Program; step >= 0 && step < len(p.descs) {
				d = p.descs[step]
			}
			return false, &StepError{Desc: d, Err: unix.Errno(code)}
		}
	}
}

// pidOf returns the host pid of the process behind the pidfd that the
// child holds as fd.
func (proc *Process) pidOf(fd int) (int, error) {
	pfd, err := unix.PidfdGetfd(proc.PidFD, fd, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(pfd)
	return pidOfPidfd(pfd)
}

// pidOfPidfd returns the pid (in our pid namespace) of the process behind
// pidfd, while it is not reaped.
func pidOfPidfd(pfd int) (int, error) {
	if pfd < 0 {
		return 0, unix.EBADF
	}
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(pfd))
	if err != nil {
		return 0, err
	}
	_, rest, _ := strings.Cut(string(b), "\nPid:\t")
	pid, err := strconv.Atoi(strings.Fields(rest + " x")[0])
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("no pid in the fdinfo of a pidfd: %q", b)
	}
	return pid, nil
}

// seize attaches to pid with ptrace options opts, from this thread.
func seize(pid, opts int) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, uintptr(opts), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// kill ends the child and reaps it.
func (p *Process) kill() {
	if p.Listener != nil {
		p.Listener.Close()
	}
	_ = unix.PidfdSendSignal(p.PidFD, unix.SIGKILL, nil, 0)
	if p.traced && p.Guest != p.Pid {
		// Ours to reap first: until then its init cannot end.
		reapTracee(p.Guest)
	}
	reap(p.Pid)
	unix.Close(p.PidFD)
}

// reapTracee waits for the traced pid (not our child) to end.
func reapTracee(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != unix.EINTR {
			return
		}
	}
}

// Abort kills the child, reaps it (and a traced program first), and
// releases the Process: for a run given up after Start.
func (p *Process) Abort() {
	p.kill()
	p.PidFD = -1
	p.Release()
}

// Release closes the pidfd and the status pipe. Call it once nothing may
// call Kill any more.
func (p *Process) Release() {
	if p.PidFD >= 0 {
		unix.Close(p.PidFD)
	}
	if p.status >= 0 {
		unix.Close(p.status)
		p.status = -1
	}
	if p.guestFD >= 0 {
		unix.Close(p.guestFD)
		p.guestFD = -1
	}
}

// Signal sends sig to the program: through its own pidfd when an init is
// before it, else to the child, which is the program.
func (p *Process) Signal(sig unix.Signal) error {
	fd := p.guestFD
	if fd < 0 {
		fd = p.PidFD
	}
	return unix.PidfdSendSignal(fd, sig, nil, 0)
}

// Kill sends SIGKILL to the child. With a pid namespace, the kernel then
// kills every process of the namespace.
func (p *Process) Kill() error {
	return unix.PidfdSendSignal(p.PidFD, unix.SIGKILL, nil, 0)
}

// Wait reaps the child and returns the program's wait status: with an
// init, the one it reported (exit code or signal, and the core-dump
// flag), or the init's own when it was killed before it could. The
// rusage is the child's, which with an init counts every process it
// reaped. The pidfd stays open (Kill after Wait is harmless) until
// Release.
func (p *Process) Wait() (unix.WaitStatus, unix.Rusage, error) {
	var ws unix.WaitStatus
	var ru unix.Rusage
	for {
		_, err := unix.Wait4(p.Pid, &ws, 0, &ru)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ws, ru, fmt.Errorf("wait4 %d: %w", p.Pid, err)
		}
		break
	}
	if p.status >= 0 {
		// The init is gone: its report, if any, is in the pipe.
		var b [recordSize]byte
		if n, _ := readFull(p.status, b[:]); n == recordSize && int32(binary.NativeEndian.Uint32(b[0:])) == C.SB_STATUS {
			ws = unix.WaitStatus(binary.NativeEndian.Uint32(b[4:]))
		}
	}
	return ws, ru, nil
}

// readRecord reads one record of the child's from the report socket, and
// the fd that came with it, or -1.
func readRecord(sock int, b []byte) (n, fd int, err error) {
	fd = -1
	oob := make([]byte, unix.CmsgSpace(4))
	for n < len(b) {
		m, oobn, _, _, err := unix.Recvmsg(sock, b[n:], oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, fd, err
		}
		if oobn > 0 {
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, msg := range msgs {
					if fds, err := unix.ParseUnixRights(&msg); err == nil {
						for _, f := range fds {
							if fd < 0 {
								fd = f
							} else {
								unix.Close(f)
							}
						}
					}
				}
			}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, fd, nil
}

func readFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

func writeIDMaps(pid int, spec *Spec) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	write := func(name, data string) error {
		fd, err := unix.Open(dir+name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			_, err = unix.Write(fd, []byte(data))
			unix.Close(fd)
		}
		if err != nil {
			return &StepError{Desc: Desc{Stage: "user namespace", Op: "write " + name, Path: dir + name}, Err: err}
		}
		return nil
	}
	if spec.DenySetgroups {
		if err := write("setgroups", "deny"); err != nil {
			return err
		}
	}
	if err := write("uid_map", spec.UIDMap); err != nil {
		return err
	}
	return write("gid_map", spec.GIDMap)
}

// Desc names a setup step for errors: its stage, its operation and the path
// it works on.
type Desc struct {
	Stage, Op, Path string
}

// StepError is a failed setup step.
type StepError struct {
	Desc
	Err error
}

// Error names the step and its errno.
func (e *StepError) Error() string {
	s := e.Stage + ": " + e.Op
	if e.Path != "" {
		s += " " + strconv.Quote(e.Path)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the errno.
func (e *StepError) Unwrap() error { return e.Err }
