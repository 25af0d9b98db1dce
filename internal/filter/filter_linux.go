//go:build linux && cgo

// Package filter compiles an OCI seccomp profile (as Docker's loader resolves
// it) to a classic BPF program with libseccomp.
package filter

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Filter is a compiled profile.
type Filter struct {
	// BPF is the program as an array of struct sock_filter, native endian.
	BPF []byte
}

// ErrProfile is wrapped by every error about the profile's content.
var ErrProfile = errors.New("invalid seccomp profile")

// Seccomp return values (SECCOMP_RET_*).
const (
	retKillProcess = 0x80000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
)

type action struct {
	scmp libseccomp.ScmpAction
	ret  uint32 // the SECCOMP_RET_* value, for the prefix of unknown syscalls
}

func toAction(a specs.LinuxSeccompAction, errnoRet *uint, defaultErrno *uint) (action, error) {
	errno := uint(unix.EPERM)
	if defaultErrno != nil {
		errno = *defaultErrno
	}
	if errnoRet != nil {
		errno = *errnoRet
	}
	switch a {
	case specs.ActAllow:
		return action{libseccomp.ActAllow, retAllow}, nil
	case specs.ActErrno:
		if errno > 0xffff {
			return action{}, fmt.Errorf("%w: errno %d out of range", ErrProfile, errno)
		}
		return action{libseccomp.ActErrno.SetReturnCode(int16(errno)), retErrno | uint32(errno)}, nil
	case specs.ActKill, specs.ActKillThread, specs.ActKillProcess:
		// Always the whole process: killing one thread of a guest
		// leaves the others running (nsjail#118).
		return action{libseccomp.ActKillProcess, retKillProcess}, nil
	case specs.ActTrap:
		return action{libseccomp.ActTrap, retTrap}, nil
	case specs.ActLog:
		return action{libseccomp.ActLog, retLog}, nil
	case specs.ActTrace, specs.ActNotify:
		return action{}, fmt.Errorf("%w: action %s needs a tracer or listener the sandbox does not provide", ErrProfile, a)
	}
	return action{}, fmt.Errorf("%w: unknown action %q", ErrProfile, a)
}

var ops = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

func conditions(args []specs.LinuxSeccompArg) ([]libseccomp.ScmpCondition, bool, error) {
	var conds []libseccomp.ScmpCondition
	var seen [6]int
	shared := false
	for _, a := range args {
		op, ok := ops[a.Op]
		if !ok {
			return nil, false, fmt.Errorf("%w: unknown operator %q", ErrProfile, a.Op)
		}
		if a.Index >= 6 {
			return nil, false, fmt.Errorf("%w: argument index %d out of range 0-5", ErrProfile, a.Index)
		}
		seen[a.Index]++
		shared = shared || seen[a.Index] > 1
		vals := []uint64{a.Value}
		if a.Op == specs.OpMaskedEqual {
			vals = append(vals, a.ValueTwo)
		}
		c, err := libseccomp.MakeCondition(a.Index, op, vals...)
		if err != nil {
			return nil, false, fmt.Errorf("%w: argument %d: %w", ErrProfile, a.Index, err)
		}
		conds = append(conds, c)
	}
	return conds, shared, nil
}

// Compile compiles p. Every syscall it names must be known, to libseccomp or
// to this package's table of newer syscalls; an unknown name is an error,
// never a silently dropped rule.
func Compile(p *specs.LinuxSeccomp) (*Filter, error) {
	def, err := toAction(p.DefaultAction, p.DefaultErrnoRet, p.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	f, err := libseccomp.NewFilter(def.scmp)
	if err != nil {
		return nil, fmt.Errorf("libseccomp: new filter: %w", err)
	}
	defer f.Release()
	// Foreign ABIs the profile does not list die: a call through int 0x80
	// or an x32 number must not dodge a filter written for x86_64.
	if err := f.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("libseccomp: bad arch action: %w", err)
	}
	// The profile is installed by the launcher, which sets no_new_privs
	// itself.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("libseccomp: no_new_privs bit: %w", err)
	}
	// A binary tree: half the install time of the linear layout.
	if err := f.SetOptimize(2); err != nil {
		return nil, fmt.Errorf("libseccomp: optimize: %w", err)
	}
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("libseccomp: native arch: %w", err)
	}
	arches := []libseccomp.ScmpArch{native}
	for _, a := range p.Architectures {
		arch, err := libseccomp.GetArchFromString(archNames[a])
		if err != nil {
			return nil, fmt.Errorf("%w: architecture %q: %w", ErrProfile, a, err)
		}
		if arch == native {
			continue
		}
		if err := f.AddArch(arch); err != nil {
			return nil, fmt.Errorf("libseccomp: add arch %s: %w", a, err)
		}
		arches = append(arches, arch)
	}

	out := &Filter{}
	var prefix []bpf.Instruction
	for i, rule := range p.Syscalls {
		act, err := toAction(rule.Action, rule.ErrnoRet, p.DefaultErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		if act.scmp == def.scmp {
			continue // libseccomp refuses a rule that repeats the default
		}
		conds, shared, err := conditions(rule.Args)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		if len(rule.Names) == 0 {
			return nil, fmt.Errorf("%w: syscalls[%d] names no syscall", ErrProfile, i)
		}
		for _, name := range rule.Names {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				nums, ok := newerSyscalls[name]
				if !ok {
					return nil, fmt.Errorf("%w: syscalls[%d]: unknown syscall %q", ErrProfile, i, name)
				}
				if len(rule.Args) > 0 {
					return nil, fmt.Errorf("%w: syscalls[%d]: %q: argument conditions on a syscall libseccomp %s does not know", ErrProfile, i, name, libVersion())
				}
				prefix = append(prefix, matchNumbers(nums, arches, act.ret)...)
				continue
			}
			switch {
			case len(conds) == 0:
				err = f.AddRule(nr, act.scmp)
			case !shared:
				err = f.AddRuleConditional(nr, act.scmp, conds)
			default:
				// Conditions on one argument are alternatives:
				// one rule each (as runc does).
				for _, c := range conds {
					if err = f.AddRuleConditional(nr, act.scmp, []libseccomp.ScmpCondition{c}); err != nil {
						break
					}
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%w: syscalls[%d]: %q: %w", ErrProfile, i, name, err)
			}
		}
	}

	prog, err := export(f)
	if err != nil {
		return nil, err
	}
	if len(prefix) > 0 {
		raw, err := bpf.Assemble(prefix)
		if err != nil {
			return nil, fmt.Errorf("assemble prefix: %w", err)
		}
		prog = append(encode(raw), prog...)
	}
	if len(prog)/8 > 4096 {
		return nil, fmt.Errorf("%w: the program has %d instructions, more than the kernel's 4096", ErrProfile, len(prog)/8)
	}
	out.BPF = prog
	return out, nil
}

func libVersion() string {
	a, b, c := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", a, b, c)
}

func export(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	file := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("libseccomp: export: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek: %w", err)
	}
	b, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("read exported filter: %w", err)
	}
	return b, nil
}

// encode turns raw instructions into struct sock_filter bytes.
func encode(raw []bpf.RawInstruction) []byte {
	b := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		b = append(b, byte(r.Op), byte(r.Op>>8), r.Jt, r.Jf)
		b = append(b, byte(r.K), byte(r.K>>8), byte(r.K>>16), byte(r.K>>24))
	}
	return b
}

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
)

// matchNumbers returns instructions that return ret when the call is one of
// nums on one of arches, and fall through otherwise. x32 calls are the
// x86_64 numbers with bit 30 set.
func matchNumbers(nums numbers, arches []libseccomp.ScmpArch, ret uint32) []bpf.Instruction {
	var ins []bpf.Instruction
	match := func(audit uint32, nr uint32) {
		ins = append(ins,
			bpf.LoadAbsolute{Off: offArch, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: audit, SkipFalse: 3},
			bpf.LoadAbsolute{Off: offNr, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1},
			bpf.RetConstant{Val: ret},
		)
	}
	for _, a := range arches {
		switch a {
		case libseccomp.ArchAMD64:
			if nums.amd64 >= 0 {
				match(auditArchX86_64, uint32(nums.amd64))
			}
		case libseccomp.ArchX32:
			if nums.x32 >= 0 {
				match(auditArchX86_64, uint32(nums.x32)|x32Bit)
			}
		case libseccomp.ArchX86:
			if nums.i386 >= 0 {
				match(auditArchI386, uint32(nums.i386))
			}
		case libseccomp.ArchARM64:
			if nums.arm64 >= 0 {
				match(auditArchAArch64, uint32(nums.arm64))
			}
		case libseccomp.ArchARM:
			if nums.arm >= 0 {
				match(auditArchARM, uint32(nums.arm))
			}
		}
	}
	return ins
}

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

// Resolve returns an error unless name is a syscall the filter can name:
// one known to libseccomp or in the table of newer syscalls.
func Resolve(name string) error {
	if _, err := libseccomp.GetSyscallFromName(name); err == nil {
		return nil
	}
	if _, ok := newerSyscalls[name]; ok {
		return nil
	}
	return fmt.Errorf("%w: unknown syscall %q", ErrProfile, name)
}

// UnknownToLibseccomp lists the names of newerSyscalls that the installed
// libseccomp cannot resolve, sorted.
func UnknownToLibseccomp() []string {
	var names []string
	for n := range newerSyscalls {
		if _, err := libseccomp.GetSyscallFromName(n); err != nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
