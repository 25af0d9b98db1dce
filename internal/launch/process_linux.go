//go:build linux && cgo

package launch

/*
#include "launcher.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gosandbox/sandbox/internal/kfile"
	"golang.org/x/sys/unix"
)

// A started child: the reports it makes until the program runs, and what
// the supervisor does with it after.

// The states a child's reports leave it in.
const (
	execd   = iota // the program exec'd, with no init before it
	running        // the init said the program started
	parked         // the child waits at its Park step
)

// readStatus reads the child's reports until the program runs: its exec
// closed the pipe, or its init said it started; or until the child parks;
// or a step failed.
func (proc *Process) readStatus(spec *Spec, errp, sync int) (state int, err error) {
	for {
		var b [recordSize]byte
		n, fds, err := readRecord(errp, b[:])
		closeFDs := func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
		switch {
		case err != nil:
			return 0, &StepError{Desc: Desc{Stage: "exec", Op: "read child status"}, Err: err}
		case n == 0:
			return execd, nil
		case n != recordSize:
			return 0, &StepError{Desc: Desc{Stage: "exec", Op: "read child status"}, Err: unix.EIO}
		}
		step := int(int32(binary.NativeEndian.Uint32(b[0:])))
		code := int(int32(binary.NativeEndian.Uint32(b[4:])))
		if step != C.SB_STARTED {
			closeFDs() // none other comes with fds
		}
		switch step {
		case C.SB_LISTENER:
			fd, err := unix.PidfdGetfd(proc.PidFD, code, 0)
			if err != nil {
				return 0, &StepError{Desc: Desc{Stage: "seccomp", Op: "pidfd_getfd listener"}, Err: err}
			}
			if proc.Listener, err = listenerFile(fd); err != nil {
				return 0, err
			}
			if _, err := unix.Write(sync, []byte{0}); err != nil {
				return 0, &StepError{Desc: Desc{Stage: "seccomp", Op: "hand over listener"}, Err: err}
			}
		case C.SB_TRACEE:
			pid, err := proc.pidOf(code)
			if err == nil {
				err = seize(pid, spec.Trace)
			}
			if err != nil {
				return 0, &StepError{Desc: Desc{Stage: "trace", Op: "PTRACE_SEIZE"}, Err: err}
			}
			proc.Guest, proc.traced = pid, true
			if _, err := unix.Write(sync, []byte{0}); err != nil {
				return 0, &StepError{Desc: Desc{Stage: "trace", Op: "resume the program"}, Err: err}
			}
		case C.SB_STARTED:
			if len(fds) == 0 || len(fds) > 2 {
				closeFDs()
				return 0, &StepError{Desc: Desc{Stage: "init", Op: "take the program's pidfd"}, Err: unix.EBADMSG}
			}
			// A program that has ended already (and been reaped by
			// its init) has no pid left to know, nor need of one.
			if pid, err := pidOfPidfd(fds[0]); err == nil {
				proc.Guest = pid
			} else if !proc.traced {
				proc.Guest = 0
			}
			proc.guestFD = fds[0] // kept, for Signal
			if len(fds) == 2 {
				// The program's seccomp listener, from its init.
				l, err := listenerFile(fds[1])
				if err != nil {
					return 0, err
				}
				proc.Listener = l
			}
			return running, nil
		case C.SB_PARKED:
			if code != 0 {
				return 0, &StepError{Desc: Desc{Stage: "launch", Op: "take the rest of the launch"}, Err: unix.Errno(code)}
			}
			return parked, nil
		default:
			d := Desc{Stage: "launcher", Op: "step " + strconv.Itoa(step)}
			if p := spec.Program; step >= 0 && step < len(p.descs) {
				d = p.descs[step]
			}
			return 0, &StepError{Desc: d, Err: unix.Errno(code)}
		}
	}
}

// listenerFile makes fd, a seccomp listener, a File in Go's netpoller:
// non-blocking before it becomes a File, so that the File is pollable.
func listenerFile(fd int) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, &StepError{Desc: Desc{Stage: "seccomp", Op: "listener O_NONBLOCK"}, Err: err}
	}
	return os.NewFile(uintptr(fd), "seccomp-listener"), nil
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
	// One ioctl since Linux 6.13 (a procfs read is three calls, and a
	// path lookup, on a run's path); the fdinfo before.
	info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_PID}
	if err := unix.IoctlPidfdInfo(pfd, &info); err == nil && info.Mask&unix.PIDFD_INFO_PID != 0 && info.Pid > 0 {
		return int(info.Pid), nil
	}
	return pidFromFdinfo(pfd)
}

// pidFromFdinfo is pidOfPidfd from the pidfd's fdinfo.
func pidFromFdinfo(pfd int) (int, error) {
	b, err := kfile.Read("/proc/self/fdinfo/" + strconv.Itoa(pfd))
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
	if p.ctl >= 0 {
		unix.Close(p.ctl)
		p.ctl = -1
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
	// The init is gone: its report, if any, is in the pipe (or was
	// read by Ended).
	if s, ok := p.report(); ok {
		ws = s
	}
	return ws, ru, nil
}

// Ended waits for the init's report that the program ended and that no
// other process of the sandbox is left (the init killed and reaped them):
// then it returns the program's wait status and true, and the init, which
// exits next, is still to be reaped by Wait. It returns false at once when
// no such report can come (no init, or a traced program, whose init
// leaves the others to the kernel), and when the init ended without it
// (killed): Wait tells then.
func (p *Process) Ended() (unix.WaitStatus, bool) {
	if p.traced {
		return 0, false
	}
	p.report()
	return p.ws, p.rec == C.SB_DONE
}

// report reads the init's report once, and returns the program's wait
// status from it, if it has one.
func (p *Process) report() (unix.WaitStatus, bool) {
	if p.status >= 0 && !p.reported {
		p.reported = true
		var b [recordSize]byte
		if n, _ := readFull(p.status, b[:]); n == recordSize {
			p.rec = int32(binary.NativeEndian.Uint32(b[0:]))
			p.ws = unix.WaitStatus(binary.NativeEndian.Uint32(b[4:]))
		}
	}
	return p.ws, p.rec == C.SB_STATUS || p.rec == C.SB_DONE
}

// readRecord reads one record of the child's from the report socket, and
// the fds that came with it, in order.
func readRecord(sock int, b []byte) (n int, fds []int, err error) {
	oob := make([]byte, unix.CmsgSpace(2*4))
	for n < len(b) {
		m, oobn, _, _, err := unix.Recvmsg(sock, b[n:], oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, fds, err
		}
		if oobn > 0 {
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, msg := range msgs {
					if fs, err := unix.ParseUnixRights(&msg); err == nil {
						fds = append(fds, fs...)
					}
				}
			}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, fds, nil
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
