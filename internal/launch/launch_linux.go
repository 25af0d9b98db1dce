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
	codeTracee         = C.SB_TRACEE
	codeUnshare        = C.SB_UNSHARE
	codeExecStatic     = C.SB_EXEC_STATIC
	codeInit           = C.SB_INIT
	codeUmask          = C.SB_UMASK
	codeNewKeyring     = C.SB_NEW_KEYRING
	codeResetSched     = C.SB_RESET_SCHED
	codeSlotFD         = C.SB_SLOT_FD
	codePark           = C.SB_PARK
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

// maxBlock is the largest launch the zygote takes (zygote.c): a larger
// one is refused here, with the reason, rather than sent.
const maxBlock = 48 << 20

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
	// status, or -1; reported says its report was read: rec (SB_STATUS,
	// SB_DONE, or 0 for none) and ws.
	status   int
	reported bool
	rec      int32
	ws       unix.WaitStatus
	// guestFD is a pidfd of the program when an init is before it, or
	// -1 (then PidFD is the program's).
	guestFD int
	// traced says Guest is attached (Spec.Trace): its end must be reaped
	// by its tracer before its pid namespace can end.
	traced bool
	// ctl is the socket of a parked child (Parked), on which Resume
	// sends the rest of its launch; -1 otherwise.
	ctl int
}

// Start starts the child and returns once it has exec'd, or with a Park
// step, once it has parked there (Parked; then Resume goes on). A failure
// in the child comes back as a *StepError; the child is then already
// reaped. When ctx is done before the exec, the child is killed from
// outside, whatever it is doing, and the StepError wraps ctx's cause.
func Start(ctx context.Context, spec *Spec) (*Process, error) {
	ch, err := newChannels()
	if err != nil {
		return nil, err
	}
	blk, relocs, fds, err := ch.encode(spec.Program)
	if err != nil {
		ch.close()
		return nil, err
	}
	cgroup := -1
	if spec.Cgroup != nil {
		cgroup = len(fds)
		fds = append(fds, int(spec.Cgroup.Fd()))
	}
	pid, inCgroup, err := zyg.spawn(uint64(spec.CloneFlags), blk, relocs, cgroup, fds)
	ch.closeChildEnds()
	if err == nil && pid < 0 {
		err = &StepError{Desc: Desc{Stage: "clone", Op: "clone"}, Err: unix.Errno(-pid)}
	}
	if err != nil {
		ch.close()
		return nil, err
	}
	// Our child (CLONE_PARENT), which nobody else can reap: its pid
	// stays its own until we wait for it.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		reap(pid)
		ch.close()
		return nil, &StepError{Desc: Desc{Stage: "clone", Op: "pidfd_open"}, Err: err}
	}
	proc := &Process{Pid: pid, PidFD: pidfd, Guest: pid, status: -1, guestFD: -1, ctl: -1}
	err = proc.follow(ctx, spec, ch, func() error {
		if spec.CloneFlags&unix.CLONE_NEWUSER != 0 {
			if err := writeIDMaps(pid, spec); err != nil {
				return err
			}
		}
		if spec.Prepare != nil && !inCgroup {
			if err := spec.Prepare(pid); err != nil {
				return err
			}
		}
		// Release the child.
		if _, err := unix.Write(ch.sync[1], []byte{0}); err != nil {
			return &StepError{Desc: Desc{Stage: "clone", Op: "release child"}, Err: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return proc, nil
}

// Parked says the child waits at its Park step for Resume: it parked, and
// it has not ended since (killed while it waited, say).
func (p *Process) Parked() bool {
	if p.ctl < 0 {
		return false
	}
	// A pidfd polls readable once its process has ended.
	fds := []unix.PollFd{{Fd: int32(p.PidFD), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			// A signal (Go's preemption, say) came first: not an
			// answer, and no reason to throw a live child away.
			continue
		}
		return err == nil && n == 0
	}
}

// Resume gives a parked child the rest of its launch, spec's Program (its
// other fields are the parked launch's), and returns once the program has
// exec'd, as Start does. On an error the child is killed and reaped.
func (p *Process) Resume(ctx context.Context, spec *Spec) error {
	if p.ctl < 0 {
		return fmt.Errorf("launch: resume a child that is not parked")
	}
	ctl := p.ctl
	p.ctl = -1
	defer unix.Close(ctl)
	ch, err := newChannels()
	if err != nil {
		p.kill()
		return err
	}
	blk, relocs, fds, err := ch.encode(spec.Program)
	if err == nil {
		_, err = sendRequest(ctl, 0, blk, relocs, -1, fds)
	}
	ch.closeChildEnds()
	if err != nil {
		ch.close()
		p.kill()
		return &StepError{Desc: Desc{Stage: "launch", Op: "resume"}, Err: err}
	}
	return p.follow(ctx, spec, ch, nil)
}

// channels are a launch's sync pipe (the child waits on it for the
// supervisor) and its report socket (the child's records, and with them
// the fds an init sends).
type channels struct {
	sync [2]int
	errp [2]int
}

func newChannels() (*channels, error) {
	ch := &channels{}
	if err := unix.Pipe2(ch.sync[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	var err error
	ch.errp, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		unix.Close(ch.sync[0])
		unix.Close(ch.sync[1])
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	return ch, nil
}

// encode lays out prog for the child, with the fds it gets: the channels'
// child ends first, then those of FDs steps, by their index in the list.
func (ch *channels) encode(prog *Program) (blk []byte, relocs []uint32, fds []int, err error) {
	fds = []int{ch.sync[0], ch.errp[1]}
	index := map[int32]int32{}
	blk, relocs = prog.encode(func(fd int32) int32 {
		i, ok := index[fd]
		if !ok {
			i = int32(len(fds))
			index[fd] = i
			fds = append(fds, int(fd))
		}
		return i
	})
	if len(blk) > maxBlock {
		return nil, nil, nil, &StepError{Desc: Desc{Stage: "launch", Op: "send the steps"}, Err: fmt.Errorf("%w: %d bytes of arguments, environment and filter, more than %d", unix.E2BIG, len(blk), maxBlock)}
	}
	return blk, relocs, fds, nil
}

func (ch *channels) closeChildEnds() {
	unix.Close(ch.sync[0])
	unix.Close(ch.errp[1])
	ch.sync[0], ch.errp[1] = -1, -1
}

func (ch *channels) close() {
	for _, fd := range []int{ch.sync[0], ch.sync[1], ch.errp[0], ch.errp[1]} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// follow runs release (if not nil: what the supervisor does before the
// child's first step), then reads the child's reports until the program
// runs or the child parks, under ctx's deadline. On an error the child is
// killed and reaped.
func (proc *Process) follow(ctx context.Context, spec *Spec, ch *channels, release func() error) (err error) {
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
		}
		err = &StepError{Desc: Desc{Stage: "launch", Op: "setup"}, Err: context.Cause(ctx)}
	}()
	if release != nil {
		if err := release(); err != nil {
			ch.close()
			proc.kill()
			return err
		}
	}
	state, err := proc.readStatus(spec, ch.errp[0], ch.sync[1])
	unix.Close(ch.sync[1])
	if err != nil {
		unix.Close(ch.errp[0])
		proc.kill()
		return err
	}
	switch state {
	case running:
		proc.status = ch.errp[0] // the init's report of the program's end comes on it
	case parked:
		proc.ctl = ch.errp[0]
	default:
		unix.Close(ch.errp[0])
	}
	return nil
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
