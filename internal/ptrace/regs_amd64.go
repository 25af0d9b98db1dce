//go:build linux

package ptrace

import "golang.org/x/sys/unix"

// syscallInsn is "syscall".
var syscallInsn = []byte{0x0f, 0x05}

// setStrictCall makes regs a call of prctl(PR_SET_SECCOMP,
// SECCOMP_MODE_STRICT) at the current pc.
func setStrictCall(regs *unix.PtraceRegs) {
	regs.Rax = unix.SYS_PRCTL
	regs.Orig_rax = ^uint64(0) // no syscall to restart
	regs.Rdi = unix.PR_SET_SECCOMP
	regs.Rsi = unix.SECCOMP_MODE_STRICT
	regs.Rdx, regs.R10, regs.R8 = 0, 0, 0
}

// syscallReturn is the return value of the call just made.
func syscallReturn(regs *unix.PtraceRegs) int64 { return int64(regs.Rax) }

// syscallNumber is the call the tracee is in, or -1.
func syscallNumber(regs *unix.PtraceRegs) int { return int(int64(regs.Orig_rax)) }

// AuditArch is the native ABI's AUDIT_ARCH_* value.
const AuditArch = 0xc000003e // AUDIT_ARCH_X86_64
