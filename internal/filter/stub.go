//go:build linux && cgo

package filter

import (
	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// enosysStub returns the prefix that makes a syscall numbered above the
// highest one p names, on each of the arches, fail with ENOSYS, as runc's
// patchbpf does (runc#2151): a libc then falls back from a call newer than
// the profile (as from clone3, faccessat2) rather than taking the
// default's EPERM for a refusal. None when the default action allows.
func enosysStub(p *specs.LinuxSeccomp, arches []libseccomp.ScmpArch, def action) []bpf.Instruction {
	if allowLike(def) {
		return nil
	}
	// The highest number named on each arch.
	top := map[libseccomp.ScmpArch]uint32{}
	seen := map[libseccomp.ScmpArch]bool{}
	for _, rule := range p.Syscalls {
		for _, name := range rule.Names {
			for _, a := range arches {
				nr, ok := syscallNumber(name, a)
				if ok && (!seen[a] || nr > top[a]) {
					top[a], seen[a] = nr, true
				}
			}
		}
	}
	var out []bpf.Instruction
	for _, a := range arches {
		audit, ok := auditArch[a]
		if !ok || !seen[a] {
			continue
		}
		// ld arch; jne -> next; ld nr; jle top -> next; [jge x32 -> next;] ret ENOSYS
		block := []bpf.Instruction{
			bpf.LoadAbsolute{Off: offArch, Size: 4},
			nil, // the arch test, once the block's length is known
			bpf.LoadAbsolute{Off: offNr, Size: 4},
		}
		rest := 2
		if a == libseccomp.ArchAMD64 {
			// x32's numbers, with their bit, are x32's block's,
			// or the bad-arch action's where the profile has no x32.
			block = append(block, bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: top[a], SkipFalse: 2},
				bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipTrue: 1})
			rest = 3
		} else {
			block = append(block, bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: top[a], SkipFalse: 1})
		}
		block = append(block, bpf.RetConstant{Val: retErrno | uint32(unix.ENOSYS)})
		block[1] = bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: audit, SkipTrue: uint8(rest + 1)}
		out = append(out, block...)
	}
	return out
}

// syscallNumber is name's number on arch, from libseccomp or the table of
// newer syscalls; not for the calls that i386 multiplexes (negative).
func syscallNumber(name string, a libseccomp.ScmpArch) (uint32, bool) {
	if nr, err := libseccomp.GetSyscallFromNameByArch(name, a); err == nil {
		return uint32(nr), int32(nr) >= 0
	}
	nums, ok := newerSyscalls[name]
	if !ok {
		return 0, false
	}
	n := map[libseccomp.ScmpArch]int{libseccomp.ArchAMD64: nums.amd64, libseccomp.ArchX86: nums.i386,
		libseccomp.ArchARM64: nums.arm64, libseccomp.ArchARM: nums.arm, libseccomp.ArchX32: nums.x32}[a]
	if n < 0 {
		return 0, false
	}
	if a == libseccomp.ArchX32 {
		return uint32(n) | x32Bit, true
	}
	return uint32(n), true
}
