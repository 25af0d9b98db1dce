//go:build linux && (amd64 || arm64)

// Package ptrace is the sandbox's tracer: entering strict mode in a guest
// stopped at its exec (EnterStrict), following it to its end to name the
// call strict mode killed it in (WaitStrict), and following a learning run
// and every process it makes, recording each call its filter traps
// (Follow). Every function must run on the OS thread that attached to the
// tracee (PTRACE_SEIZE): ptrace binds a tracee to its tracer thread.
package ptrace

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/gosandbox/sandbox/internal/kfile"
	"golang.org/x/sys/unix"
)

// OpError is a failed ptrace operation on a tracee.
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }

func (e *OpError) Unwrap() error { return e.Err }

// EnterStrict puts pid, stopped at its exec event, into
// SECCOMP_MODE_STRICT before its first instruction and lets it go: it
// injects prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) at the entry point,
// single-steps it, and restores the code and registers.
func EnterStrict(pid int) error {
	fail := func(op string, err error) error { return &OpError{Op: op, Err: err} }
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

// WaitStrict waits for the traced guest pid to end and reaps it (its init
// reports its wait status). Strict mode kills with do_exit(SIGKILL) inside
// the forbidden call, so the exit stop shows that call's number; a SIGKILL
// from anywhere else comes outside a call or inside one of the allowed
// four. It returns the number of the call strict mode killed the guest
// in, or -1.
func WaitStrict(pid int) (call int, err error) {
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
		if err := resume(pid, ws); err != nil {
			return call, err
		}
	}
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

// Follow follows a learning run from the exec stop of its program pid
// (attached with FollowOptions) until every process it traces has ended
// and been reaped: until then, the sandbox's init cannot end its pid
// namespace. The learning filter returns SECCOMP_RET_TRACE for every call:
// each stops its process in a ptrace stop, which no signal cuts short;
// Follow tells record the call (its AUDIT_ARCH_* and number) and lets it
// go ahead.
func Follow(pid int, record func(arch uint32, nr int32)) error {
	if err := waitStop(pid); err != nil {
		return fmt.Errorf("wait for the exec stop: %w", err)
	}
	if err := unix.PtraceCont(pid, 0); err != nil {
		return fmt.Errorf("PTRACE_CONT: %w", err)
	}
	tracees := map[int]bool{pid: true}
	tid := unix.Gettid()
	for len(tracees) > 0 {
		// Peek first: this thread may be the parent of another
		// process (os/exec's, say), whose end is its owner's to reap.
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WSTOPPED|unix.WNOWAIT|unix.WALL|unix.WNOTHREAD, nil); err != nil {
			if err == unix.EINTR {
				continue
			}
			if err == unix.ECHILD {
				// Nothing traced is left: threads that an exec in
				// another thread ended go without an exit report.
				return nil
			}
			return fmt.Errorf("waitid: %w", err)
		}
		who := int(siginfoPid(&info))
		if !tracees[who] && ProcStatus(who, "TracerPid") == tid {
			// A new process can stop before its parent's fork
			// event says it exists: it is ours if we trace it.
			tracees[who] = true
		}
		var st unix.WaitStatus
		if !tracees[who] {
			// Another child of this thread, whose owner reaps it
			// when it will: look past it, at our own tracees.
			if who = nextEvent(tracees, &st); who == 0 {
				time.Sleep(100 * time.Microsecond)
				continue
			}
		} else if _, err := unix.Wait4(who, &st, unix.WALL, nil); err != nil {
			if err == unix.EINTR {
				continue
			}
			if err == unix.ECHILD {
				delete(tracees, who) // gone, and reaped by another
				continue
			}
			return fmt.Errorf("wait4 %d: %w", who, err)
		}
		if st.Exited() || st.Signaled() {
			delete(tracees, who)
			continue
		}
		if !st.Stopped() {
			continue
		}
		switch ev := eventOf(st); {
		case st.StopSignal() == unix.SIGTRAP && ev == unix.PTRACE_EVENT_SECCOMP:
			if arch, nr, ok := syscallInfo(who); ok {
				record(arch, nr)
			}
		case st.StopSignal() == unix.SIGTRAP && (ev == unix.PTRACE_EVENT_FORK || ev == unix.PTRACE_EVENT_VFORK || ev == unix.PTRACE_EVENT_CLONE):
			if child, err := unix.PtraceGetEventMsg(who); err == nil {
				tracees[int(child)] = true
			}
		}
		if err := resume(who, st); err != nil {
			return err
		}
	}
	return nil
}

// FollowOptions trace a learning run's program and every process and
// thread it makes, from birth.
const FollowOptions = unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL

// StrictOptions stop a strict guest at its exec, and kill it with its
// tracer.
const StrictOptions = unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL

// nextEvent reaps a pending event of one of the tracees, without waiting,
// and returns its pid, or 0.
func nextEvent(tracees map[int]bool, st *unix.WaitStatus) int {
	for pid := range tracees {
		if n, err := unix.Wait4(pid, st, unix.WALL|unix.WNOHANG, nil); err == nil && n == pid {
			return pid
		}
	}
	return 0
}

// eventOf is the PTRACE_EVENT_* of a ptrace stop, or 0.
func eventOf(ws unix.WaitStatus) int { return int(ws>>16) & 0xff }

// resume lets a seized tracee that wait reported stopped go on: a
// group-stop stays a stop (PTRACE_LISTEN, until a SIGCONT), an event stop
// (an exec, a fork, the first stop of a new tracee) continues with no
// signal, and a signal-delivery stop delivers its signal as it came.
func resume(pid int, ws unix.WaitStatus) error {
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

// ProcStatus returns the number in field key of /proc/PID/status, or 0.
func ProcStatus(pid int, key string) int {
	b, err := kfile.Read("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), "\n"+key+":\t")
	n, _ := strconv.Atoi(strings.Fields(rest + " 0")[0])
	return n
}

func siginfoPid(info *unix.Siginfo) int32 {
	// si_pid follows si_signo, si_errno, si_code and padding to 16 bytes
	// on 64-bit Linux.
	b := (*[128]byte)(unsafe.Pointer(info))
	return int32(binary.NativeEndian.Uint32(b[16:]))
}

// syscallInfo returns the ABI (AUDIT_ARCH_*) and number of the call pid is
// stopped in at a seccomp stop (PTRACE_GET_SYSCALL_INFO, Linux 5.3).
func syscallInfo(pid int) (arch uint32, nr int32, ok bool) {
	var buf [88]byte // struct ptrace_syscall_info: op, arch, ip, sp, then seccomp.nr
	n, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_SYSCALL_INFO, uintptr(pid), uintptr(len(buf)), uintptr(unsafe.Pointer(&buf[0])), 0, 0)
	if e != 0 || n < 32 || buf[0] != unix.PTRACE_SYSCALL_INFO_SECCOMP {
		return 0, 0, false
	}
	return binary.NativeEndian.Uint32(buf[4:]), int32(binary.NativeEndian.Uint64(buf[24:])), true
}
