//go:build linux && cgo

// Package launch starts a sandboxed child: clone with fresh namespaces, a
// list of setup steps run by a small C interpreter in the child, then execve.
//
// The child is made with clone(CLONE_VM) on a private stack (launcher.c), so
// a launch costs the same whatever the size of the caller's heap. The steps
// are plain data built in Go; the child only interprets them with raw
// system calls and reports the index of a failed step and its errno.
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
	codeTraceme        = C.SB_TRACEME
	codeUnshare        = C.SB_UNSHARE
	codeExecStatic     = C.SB_EXEC_STATIC
)

// Why ExecStatic refused a guest: the Err of its StepError.
const (
	ErrScript  = unix.Errno(C.SB_ESCRIPT)
	ErrNotELF  = unix.Errno(C.SB_ENOTELF)
	ErrArch    = unix.Errno(C.SB_EARCH)
	ErrDynamic = unix.Errno(C.SB_EDYNAMIC)
)

const (
	stepSize   = int(unsafe.Sizeof(C.struct_sb_step{}))
	configSize = int(unsafe.Sizeof(C.struct_sb_config{}))
	failSize   = int(unsafe.Sizeof(C.struct_sb_failure{}))
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
	// Program is what the child does between clone and execve.
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
}

// Process is a started child.
type Process struct {
	Pid   int
	PidFD int
	// Listener is the seccomp user-notification listener of the child's
	// filter, when its Seccomp step asked for one; non-blocking, so that
	// it waits in Go's netpoller.
	Listener *os.File
}

// Start starts the child and returns once it has exec'd. A failure in the
// child comes back as a *StepError; the child is then already reaped.
// When ctx is done before the exec, the child is killed from outside,
// whatever it is doing, and the StepError wraps ctx's cause.
func Start(ctx context.Context, spec *Spec) (started *Process, err error) {
	p := spec.Program
	var sync, errp [2]int
	if err := unix.Pipe2(sync[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	if err := unix.Pipe2(errp[:], unix.O_CLOEXEC); err != nil {
		unix.Close(sync[0])
		unix.Close(sync[1])
		return nil, fmt.Errorf("pipe: %w", err)
	}
	closeAll := func(fds ...int) {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}

	buf := p.encode(sync, errp)
	mem := C.malloc(C.size_t(len(buf)))
	if mem == nil {
		closeAll(sync[0], sync[1], errp[0], errp[1])
		return nil, fmt.Errorf("malloc: %w", unix.ENOMEM)
	}
	defer C.free(mem)
	arena := unsafe.Slice((*byte)(mem), len(buf))
	copy(arena, buf)
	base := uint64(uintptr(mem))
	for _, at := range p.relocs {
		v := binary.NativeEndian.Uint64(arena[at:])
		binary.NativeEndian.PutUint64(arena[at:], v+base)
	}

	var pidfd C.int
	var stack unsafe.Pointer
	pid, inCgroup := -int(unix.ENOSYS), false
	if spec.Cgroup != nil {
		pid = int(C.sb_clone3((*C.struct_sb_config)(mem), C.ulong(spec.CloneFlags), C.int(spec.Cgroup.Fd()), &pidfd, &stack))
		inCgroup = pid >= 0
	}
	if pid == -int(unix.ENOSYS) {
		pid = int(C.sb_clone((*C.struct_sb_config)(mem), C.ulong(spec.CloneFlags), &pidfd, &stack))
	}
	closeAll(sync[0], errp[1])
	if pid < 0 {
		closeAll(sync[1], errp[0])
		return nil, &StepError{Desc: Desc{Stage: "clone", Op: "clone"}, Err: unix.Errno(-pid)}
	}
	// The stack and the arena stay mapped until the child has exec'd or
	// died: it runs in our memory until then.
	defer C.sb_release_stack(stack)
	proc := &Process{Pid: pid, PidFD: int(pidfd)}
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
			proc.kill()
			started = nil
		}
		err = &StepError{Desc: Desc{Stage: "launch", Op: "setup"}, Err: context.Cause(ctx)}
	}()

	if spec.CloneFlags&unix.CLONE_NEWUSER != 0 {
		if err := writeIDMaps(pid, spec); err != nil {
			closeAll(sync[1], errp[0])
			proc.kill()
			return nil, err
		}
	}
	if spec.Prepare != nil && !inCgroup {
		if err := spec.Prepare(pid); err != nil {
			closeAll(sync[1], errp[0])
			proc.kill()
			return nil, err
		}
	}
	// Release the child.
	_, err = unix.Write(sync[1], []byte{0})
	if err != nil {
		closeAll(sync[1], errp[0])
		proc.kill()
		return nil, &StepError{Desc: Desc{Stage: "clone", Op: "release child"}, Err: err}
	}
	err = proc.readStatus(p, errp[0], sync[1])
	closeAll(errp[0], sync[1])
	if err != nil {
		proc.kill()
		return nil, err
	}
	return proc, nil
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

// readStatus reads the child's reports until its exec closes the pipe: a
// failed step, or a listener to take over.
func (proc *Process) readStatus(p *Program, errp, sync int) error {
	for {
		var rec [failSize]byte
		n, err := readFull(errp, rec[:])
		switch {
		case err != nil:
			return &StepError{Desc: Desc{Stage: "exec", Op: "read child status"}, Err: err}
		case n == 0:
			return nil // exec'd
		case n != failSize:
			return &StepError{Desc: Desc{Stage: "exec", Op: "read child status"}, Err: unix.EIO}
		}
		step := int(int32(binary.NativeEndian.Uint32(rec[0:])))
		code := int(int32(binary.NativeEndian.Uint32(rec[4:])))
		if step == C.SB_LISTENER {
			fd, err := unix.PidfdGetfd(proc.PidFD, code, 0)
			if err != nil {
				return &StepError{Desc: Desc{Stage: "seccomp", Op: "pidfd_getfd listener"}, Err: err}
			}
			// Non-blocking before it becomes a File: then the File
			// is pollable, in Go's netpoller.
			if err := unix.SetNonblock(fd, true); err != nil {
				unix.Close(fd)
				return &StepError{Desc: Desc{Stage: "seccomp", Op: "listener O_NONBLOCK"}, Err: err}
			}
			proc.Listener = os.NewFile(uintptr(fd), "seccomp-listener")
			if _, err := unix.Write(sync, []byte{0}); err != nil {
				return &StepError{Desc: Desc{Stage: "seccomp", Op: "hand over listener"}, Err: err}
			}
			continue
		}
		d := Desc{Stage: "launcher", Op: "step " + strconv.Itoa(step)}
		if step >= 0 && step < len(p.descs) {
			d = p.descs[step]
		}
		return &StepError{Desc: d, Err: unix.Errno(code)}
	}
}

// kill ends the child and reaps it.
func (p *Process) kill() {
	if p.Listener != nil {
		p.Listener.Close()
	}
	_ = unix.PidfdSendSignal(p.PidFD, unix.SIGKILL, nil, 0)
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(p.Pid, &ws, 0, nil); err != unix.EINTR {
			break
		}
	}
	unix.Close(p.PidFD)
}

// Release closes the pidfd. Call it once nothing may call Kill any more.
func (p *Process) Release() { unix.Close(p.PidFD) }

// Kill sends SIGKILL to the child. With a pid namespace, the kernel then
// kills every process of the namespace.
func (p *Process) Kill() error {
	return unix.PidfdSendSignal(p.PidFD, unix.SIGKILL, nil, 0)
}

// Wait reaps the child. The pidfd stays open (Kill after Wait is harmless)
// until Release.
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
		return ws, ru, nil
	}
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
