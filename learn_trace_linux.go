//go:build linux && cgo

package sandbox

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// learnTraceOptions trace a learning run's program and every process and
// thread it makes, from birth.
const learnTraceOptions = unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL

// traceLearn follows a learning run on its tracer's thread, from the exec
// stop of its program pid (attached with learnTraceOptions) until every
// process it traces has ended and been reaped: until then, the sandbox's
// init cannot end its pid namespace. The learning filter returns
// SECCOMP_RET_TRACE for every call: each stops its process in a ptrace
// stop, which no signal cuts short; traceLearn records the call and lets
// it go ahead.
func traceLearn(pid int, rec *learned) error {
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
		if !tracees[who] && tracerOf(who) == tid {
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
				rec.add(call{arch, nr})
			}
		case st.StopSignal() == unix.SIGTRAP && (ev == unix.PTRACE_EVENT_FORK || ev == unix.PTRACE_EVENT_VFORK || ev == unix.PTRACE_EVENT_CLONE):
			if child, err := unix.PtraceGetEventMsg(who); err == nil {
				tracees[int(child)] = true
			}
		}
		if err := resumeTracee(who, st); err != nil {
			return err
		}
	}
	return nil
}

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

// tracerOf returns the tracer of pid (TracerPid in /proc/PID/status), or 0.
func tracerOf(pid int) int { return procStatus(pid, "TracerPid") }

// procStatus returns the number in field key of /proc/PID/status, or 0.
func procStatus(pid int, key string) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
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
