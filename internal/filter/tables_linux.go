//go:build linux && cgo

package filter

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // its low word, on a little-endian machine
)

// archNames maps the profile's architectures to libseccomp's names.
var archNames = map[specs.Arch]string{
	specs.ArchX86: "x86", specs.ArchX86_64: "amd64", specs.ArchX32: "x32",
	specs.ArchARM: "arm", specs.ArchAARCH64: "arm64",
	specs.ArchMIPS: "mips", specs.ArchMIPS64: "mips64", specs.ArchMIPS64N32: "mips64n32",
	specs.ArchMIPSEL: "mipsel", specs.ArchMIPSEL64: "mipsel64", specs.ArchMIPSEL64N32: "mipsel64n32",
	specs.ArchPPC: "ppc", specs.ArchPPC64: "ppc64", specs.ArchPPC64LE: "ppc64le",
	specs.ArchS390: "s390", specs.ArchS390X: "s390x", specs.ArchRISCV64: "riscv64",
}

const (
	auditArchX86_64  = 0xc000003e
	auditArchI386    = 0x40000003
	auditArchAArch64 = 0xc00000b7
	auditArchARM     = 0x40000028
	x32Bit           = 0x40000000
)

// numbers are a syscall's numbers per ABI; -1 where it does not exist.
type numbers struct{ amd64, x32, i386, arm64, arm int }

// common is a syscall numbered alike on every ABI, as every syscall since
// Linux 5.1 is (scripts/syscall.tbl).
func common(nr int) numbers { return numbers{nr, nr, nr, nr, nr} }

// newerSyscalls are syscalls that Docker's profile may allow and that
// libseccomp 2.5.4 does not know, with their numbers from the kernel's
// syscall tables. A name here that the installed libseccomp knows is
// resolved by libseccomp instead.
var newerSyscalls = map[string]numbers{
	"cachestat":         common(451),
	"fchmodat2":         common(452),
	"map_shadow_stack":  {453, 453, -1, -1, -1},
	"futex_wake":        common(454),
	"futex_wait":        common(455),
	"futex_requeue":     common(456),
	"statmount":         common(457),
	"listmount":         common(458),
	"lsm_get_self_attr": common(459),
	"lsm_set_self_attr": common(460),
	"lsm_list_modules":  common(461),
	"mseal":             common(462),
	"setxattrat":        common(463),
	"getxattrat":        common(464),
	"listxattrat":       common(465),
	"removexattrat":     common(466),
	"open_tree_attr":    common(467),
	"file_getattr":      common(468),
	"file_setattr":      common(469),
	"uretprobe":         {335, -1, -1, -1, -1},
	"uprobe":            {336, -1, -1, -1, -1},
	// RISC-V only: nothing to match elsewhere.
	"riscv_hwprobe":      {-1, -1, -1, -1, -1},
	"riscv_flush_icache": {-1, -1, -1, -1, -1},
}

// SyscallName returns the name of call nr on the ABI that audit arch
// (AUDIT_ARCH_*) and nr say, and that ABI's name ("x86_64", "x32", "x86",
// "aarch64", "arm"); the name is "" when libseccomp does not know the call.
func SyscallName(arch uint32, nr int) (name, abi string) {
	var a libseccomp.ScmpArch
	switch {
	case arch == auditArchX86_64 && nr >= x32Bit:
		a, abi = libseccomp.ArchX32, "x32"
	case arch == auditArchX86_64:
		a, abi = libseccomp.ArchAMD64, "x86_64"
	case arch == auditArchI386:
		a, abi = libseccomp.ArchX86, "x86"
	case arch == auditArchAArch64:
		a, abi = libseccomp.ArchARM64, "aarch64"
	case arch == auditArchARM:
		a, abi = libseccomp.ArchARM, "arm"
	default:
		return "", fmt.Sprintf("arch %#x", arch)
	}
	n, err := libseccomp.ScmpSyscall(nr).GetNameByArch(a)
	if err == nil {
		return n, abi
	}
	for name, nums := range newerSyscalls {
		if (a == libseccomp.ArchAMD64 && nums.amd64 == nr) || (a == libseccomp.ArchX32 && nums.x32 >= 0 && nums.x32|x32Bit == nr) ||
			(a == libseccomp.ArchX86 && nums.i386 == nr) || (a == libseccomp.ArchARM64 && nums.arm64 == nr) || (a == libseccomp.ArchARM && nums.arm == nr) {
			return name, abi
		}
	}
	return "", abi
}
