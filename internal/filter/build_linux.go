//go:build linux && cgo

package filter

// Translation of an OCI profile to libseccomp's rules, and its program.

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

type action struct {
	scmp libseccomp.ScmpAction
	ret  uint32 // the SECCOMP_RET_* value, for the prefix of unknown syscalls
}

// maxErrno is the largest errno a filter may return: the kernel's
// MAX_ERRNO is 4095, and libseccomp keeps it for itself.
const maxErrno = 4094

// toAction is the action a, with errnoRet its errno (nil: EPERM, as the
// runtime-spec says for a rule; the profile's defaultErrnoRet applies to
// its default action only).
func toAction(a specs.LinuxSeccompAction, errnoRet *uint) (action, error) {
	errno := uint(unix.EPERM)
	if errnoRet != nil {
		errno = *errnoRet
	}
	switch a {
	case specs.ActAllow:
		return action{libseccomp.ActAllow, retAllow}, nil
	case specs.ActErrno:
		if errno > maxErrno {
			return action{}, fmt.Errorf("%w: errno %d out of range (max %d)", ErrProfile, errno, maxErrno)
		}
		return action{libseccomp.ActErrno.SetReturnCode(int16(errno)), retErrno | uint32(errno)}, nil
	case specs.ActKill, specs.ActKillThread:
		// The calling thread, as the runtime-spec and runc say. The
		// sandbox's own kill policy asks for KILL_PROCESS instead:
		// killing one thread of a guest leaves the others running
		// (nsjail#118).
		return action{libseccomp.ActKillThread, retKillThread}, nil
	case specs.ActKillProcess:
		return action{libseccomp.ActKillProcess, retKillProcess}, nil
	case specs.ActTrap:
		return action{libseccomp.ActTrap, retTrap}, nil
	case specs.ActLog:
		return action{libseccomp.ActLog, retLog}, nil
	case specs.ActTrace:
		// No tracer attaches for it: the kernel fails the call with
		// ENOSYS, as under runc.
		return action{libseccomp.ActTrace.SetReturnCode(int16(errno)), unix.SECCOMP_RET_TRACE | uint32(errno)}, nil
	case specs.ActNotify:
		// The profile's agent answers (Compile checks it has a
		// listenerPath).
		return action{libseccomp.ActNotify, unix.SECCOMP_RET_USER_NOTIF}, nil
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

var auditArch = map[libseccomp.ScmpArch]uint32{
	libseccomp.ArchAMD64: auditArchX86_64,
	libseccomp.ArchX32:   auditArchX86_64,
	libseccomp.ArchX86:   auditArchI386,
	libseccomp.ArchARM64: auditArchAArch64,
	libseccomp.ArchARM:   auditArchARM,
}

// build compiles p with libseccomp, keeping only the names in keep when it
// is not nil, for the profile's arches or, when only is not nil, for those.
func build(p *specs.LinuxSeccomp, keep map[string]bool, only []libseccomp.ScmpArch) (*built, error) {
	def, err := toAction(p.DefaultAction, p.DefaultErrnoRet)
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
	b := &built{def: def, arches: []libseccomp.ScmpArch{native}, newer: map[uint32]map[uint32]verdict{}}
	for _, a := range p.Architectures {
		arch, err := libseccomp.GetArchFromString(archNames[a])
		if err != nil {
			return nil, fmt.Errorf("%w: architecture %q: %w", ErrProfile, a, err)
		}
		if !slices.Contains(b.arches, arch) {
			b.arches = append(b.arches, arch)
		}
	}
	if only != nil {
		b.arches = only
	}
	for _, arch := range b.arches {
		if arch == native {
			continue
		}
		if err := f.AddArch(arch); err != nil {
			return nil, fmt.Errorf("libseccomp: add arch %s: %w", arch, err)
		}
	}
	if !slices.Contains(b.arches, native) {
		if err := f.RemoveArch(native); err != nil {
			return nil, fmt.Errorf("libseccomp: remove arch %s: %w", native, err)
		}
	}

	for i, rule := range p.Syscalls {
		act, err := toAction(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
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
					// runc and crun skip a rule that names a call no
					// table knows. An allow rule, so be it: said, not
					// silent. A rule that denies it under a default
					// that allows would open what its author meant to
					// close: an error.
					if allowLike(def) && !allowLike(act) {
						return nil, fmt.Errorf("%w: syscalls[%d]: unknown syscall %q, denied under a default that allows: skipping the rule would allow it", ErrProfile, i, name)
					}
					b.skipped = append(b.skipped, fmt.Sprintf("syscalls[%d]: unknown syscall %q: the rule (%s) is skipped for it", i, name, rule.Action))
					continue
				}
				if len(rule.Args) > 0 {
					return nil, fmt.Errorf("%w: syscalls[%d]: %q: argument conditions on a syscall libseccomp %s does not know", ErrProfile, i, name, libVersion())
				}
				if act.scmp != def.scmp {
					b.addNewer(nums, act.ret)
				}
				continue
			}
			if (keep != nil && !keep[name]) || act.scmp == def.scmp {
				continue // libseccomp refuses a rule that repeats the default
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
	raw, err := export(f)
	if err != nil {
		return nil, err
	}
	b.raw = raw
	return b, nil
}

// addNewer records the verdict of a call libseccomp does not know, on each
// of b's arches where it exists. The first rule naming it wins, as in
// libseccomp.
func (b *built) addNewer(nums numbers, ret uint32) {
	add := func(audit uint32, nr int, bit uint32) {
		if nr < 0 {
			return
		}
		if b.newer[audit] == nil {
			b.newer[audit] = map[uint32]verdict{}
		}
		if _, ok := b.newer[audit][uint32(nr)|bit]; !ok {
			b.newer[audit][uint32(nr)|bit] = verdict(ret)
		}
	}
	for _, a := range b.arches {
		switch a {
		case libseccomp.ArchAMD64:
			add(auditArchX86_64, nums.amd64, 0)
		case libseccomp.ArchX32:
			add(auditArchX86_64, nums.x32, x32Bit)
		case libseccomp.ArchX86:
			add(auditArchI386, nums.i386, 0)
		case libseccomp.ArchARM64:
			add(auditArchAArch64, nums.arm64, 0)
		case libseccomp.ArchARM:
			add(auditArchARM, nums.arm, 0)
		}
	}
}

func libVersion() string {
	a, b, c := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", a, b, c)
}

func export(f *libseccomp.ScmpFilter) ([]bpf.RawInstruction, error) {
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
	return decode(b), nil
}

// decode turns struct sock_filter bytes into raw instructions.
func decode(b []byte) []bpf.RawInstruction {
	raw := make([]bpf.RawInstruction, len(b)/8)
	for i := range raw {
		r := b[8*i:]
		raw[i] = bpf.RawInstruction{Op: binary.NativeEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:])}
	}
	return raw
}
