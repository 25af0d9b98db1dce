//go:build linux && cgo

package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// enterStrict puts the stopped tracee pid into SECCOMP_MODE_STRICT and lets
// it go. It must run on the OS thread that cloned pid, its tracer.
func enterStrict(pid int) error {
	fail := func(op string, err error) error {
		return &SetupError{Stage: "strict", Op: op, Err: fmt.Errorf("%w: %w", ErrStrictSetup, err)}
	}
	if err := waitStop(pid); err != nil {
		return fail("wait for the exec stop", err)
	}
	// The exec event stops the guest inside execve, whose return value
	// would overwrite what we set: go on to the syscall-exit stop, from
	// where the guest returns to user space with our registers.
	if err := unix.PtraceSyscall(pid, 0); err != nil {
		return fail("PTRACE_SYSCALL", err)
	}
	if err := waitStop(pid); err != nil {
		return fail("wait for the exit of execve", err)
	}
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &regs); err != nil {
		return fail("PTRACE_GETREGS", err)
	}
	saved := regs
	pc := uintptr(regs.PC())
	var orig [8]byte
	if _, err := unix.PtracePeekText(pid, pc, orig[:]); err != nil {
		return fail("PTRACE_PEEKTEXT", err)
	}
	code := orig
	copy(code[:], syscallInsn)
	if _, err := unix.PtracePokeText(pid, pc, code[:]); err != nil {
		return fail("PTRACE_POKETEXT", err)
	}
	setStrictCall(&regs)
	if err := unix.PtraceSetRegs(pid, &regs); err != nil {
		return fail("PTRACE_SETREGS", err)
	}
	if err := unix.PtraceSingleStep(pid); err != nil {
		return fail("PTRACE_SINGLESTEP", err)
	}
	if err := waitStop(pid); err != nil {
		return fail("wait for the single step", err)
	}
	if err := unix.PtraceGetRegs(pid, &regs); err != nil {
		return fail("PTRACE_GETREGS", err)
	}
	if r := syscallReturn(&regs); r != 0 {
		return fail("prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT)", unix.Errno(-r))
	}
	// The guest's own code and registers back, as they were at the exec.
	if _, err := unix.PtracePokeText(pid, pc, orig[:]); err != nil {
		return fail("PTRACE_POKETEXT", err)
	}
	if err := unix.PtraceSetRegs(pid, &saved); err != nil {
		return fail("PTRACE_SETREGS", err)
	}
	// Stay attached, to see the call that strict mode kills for at the
	// exit stop; and if the supervisor dies, so does the guest.
	if err := unix.PtraceSetOptions(pid, unix.PTRACE_O_TRACEEXIT|unix.PTRACE_O_EXITKILL); err != nil {
		return fail("PTRACE_SETOPTIONS", err)
	}
	if err := unix.PtraceCont(pid, 0); err != nil {
		return fail("PTRACE_CONT", err)
	}
	return nil
}

// waitStrict waits for the traced guest pid to end, on its tracer's thread,
// and reaps it (its init reports its wait status). Strict mode kills with
// do_exit(SIGKILL) inside the forbidden call, so the exit stop shows that
// call's number; a SIGKILL from anywhere else comes outside a call or
// inside one of the allowed four. It returns the number of the call strict
// mode killed the guest in, or -1.
func waitStrict(pid int) (call int, err error) {
	call = -1
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return call, fmt.Errorf("wait4 %d: %w", pid, err)
		}
		if ws.Exited() || ws.Signaled() {
			return call, nil
		}
		if !ws.Stopped() {
			continue
		}
		if ws.StopSignal() == unix.SIGTRAP && eventOf(ws) == unix.PTRACE_EVENT_EXIT {
			call = exitStopCall(pid)
		}
		if err := resumeTracee(pid, ws); err != nil {
			return call, err
		}
	}
}

// eventOf is the PTRACE_EVENT_* of a ptrace stop, or 0.
func eventOf(ws unix.WaitStatus) int { return int(ws>>16) & 0xff }

// resumeTracee lets a seized tracee that wait reported stopped go on: a
// group-stop stays a stop (PTRACE_LISTEN, until a SIGCONT), an event stop
// (an exec, a fork, the first stop of a new tracee) continues with no
// signal, and a signal-delivery stop delivers its signal as it came.
func resumeTracee(pid int, ws unix.WaitStatus) error {
	sig := 0
	switch {
	case eventOf(ws) == unix.PTRACE_EVENT_STOP && ws.StopSignal() != unix.SIGTRAP:
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_LISTEN, uintptr(pid), 0, 0, 0, 0)
		if e != 0 && e != unix.ESRCH {
			return fmt.Errorf("PTRACE_LISTEN %d: %w", pid, e)
		}
		return nil
	case eventOf(ws) != 0:
	default:
		sig = int(ws.StopSignal())
	}
	if err := unix.PtraceCont(pid, sig); err != nil && err != unix.ESRCH {
		return fmt.Errorf("PTRACE_CONT %d: %w", pid, err)
	}
	return nil
}

// exitStopCall returns the call that pid, stopped at its exit, was killed
// in by strict mode, or -1.
func exitStopCall(pid int) int {
	status, err := unix.PtraceGetEventMsg(pid)
	if err != nil || unix.WaitStatus(status).Signal() != unix.SIGKILL {
		return -1
	}
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &regs); err != nil {
		return -1
	}
	switch nr := syscallNumber(&regs); nr {
	case unix.SYS_READ, unix.SYS_WRITE, unix.SYS_EXIT, unix.SYS_RT_SIGRETURN:
		return -1 // not in a call strict mode forbids
	default:
		return nr
	}
}

// waitStop waits for pid to stop with SIGTRAP (its exec event stop).
func waitStop(pid int) error {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if !ws.Stopped() || ws.StopSignal() != unix.SIGTRAP {
			return fmt.Errorf("the guest did not stop with SIGTRAP (wait status %#x)", uint32(ws))
		}
		return nil
	}
}
