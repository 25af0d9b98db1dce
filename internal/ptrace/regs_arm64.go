//go:build linux

package ptrace

import "golang.org/x/sys/unix"

// syscallInsn is "svc #0".
var syscallInsn = []byte{0x01, 0x00, 0x00, 0xd4}

// setStrictCall makes regs a call of prctl(PR_SET_SECCOMP,
// SECCOMP_MODE_STRICT) at the current pc: the number in x8, the arguments
// in x0 and x1.
func setStrictCall(regs *unix.PtraceRegs) {
	regs.Regs[8] = unix.SYS_PRCTL
	regs.Regs[0] = unix.PR_SET_SECCOMP
	regs.Regs[1] = unix.SECCOMP_MODE_STRICT
	regs.Regs[2], regs.Regs[3], regs.Regs[4] = 0, 0, 0
}

// syscallReturn is the return value of the call just made.
func syscallReturn(regs *unix.PtraceRegs) int64 { return int64(regs.Regs[0]) }

// syscallNumber is the call the tracee is in (x8 holds it on entry).
func syscallNumber(regs *unix.PtraceRegs) int { return int(regs.Regs[8]) }

// AuditArch is the native ABI's AUDIT_ARCH_* value.
const AuditArch = 0xc00000b7 // AUDIT_ARCH_AARCH64
