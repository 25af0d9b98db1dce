//go:build linux

package sandbox

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

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
	if err := unix.PtraceDetach(pid); err != nil {
		return fail("PTRACE_DETACH", err)
	}
	return nil
}

// waitStop waits for pid to stop with SIGTRAP.
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

// kmsg reads the kernel's audit records of seccomp kills (type 1326). It
// is nil where /dev/kmsg cannot be read (rootless, dmesg_restrict).
type kmsg struct{ fd int }

// openKmsg opens /dev/kmsg at its end, so that only records logged from now
// on are read.
func openKmsg() *kmsg {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return nil
	}
	return &kmsg{fd: fd}
}

func (k *kmsg) close() {
	if k != nil {
		unix.Close(k.fd)
	}
}

// seccompKill finds the audit record of the seccomp kill of the host pid
// and returns the arch and number of the call. kauditd logs it after the
// kill, so it waits up to wait for it.
func (k *kmsg) seccompKill(pid int, wait time.Duration) (arch uint32, nr int, ok bool) {
	if k == nil {
		return 0, 0, false
	}
	deadline := time.Now().Add(wait)
	want := []byte(" pid=" + strconv.Itoa(pid) + " ")
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(k.fd, buf)
		switch {
		case err == unix.EAGAIN:
			if time.Now().After(deadline) {
				return 0, 0, false
			}
			time.Sleep(2 * time.Millisecond)
			continue
		case err == unix.EPIPE || err == unix.EINTR:
			continue // records were overwritten, or a signal: read on
		case err != nil || n == 0:
			return 0, 0, false
		}
		rec := buf[:n]
		if !bytes.Contains(rec, []byte("audit: type=1326")) || !bytes.Contains(rec, want) {
			continue
		}
		a, ok1 := field(rec, "arch=", 16)
		s, ok2 := field(rec, "syscall=", 10)
		if ok1 && ok2 {
			return uint32(a), int(s), true
		}
	}
}

// field parses the number after key in an audit record.
func field(rec []byte, key string, base int) (uint64, bool) {
	i := bytes.Index(rec, []byte(" "+key))
	if i < 0 {
		return 0, false
	}
	v := rec[i+1+len(key):]
	if j := bytes.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	n, err := strconv.ParseUint(string(v), base, 64)
	return n, err == nil
}
