//go:build linux && cgo

// Package filter compiles an OCI seccomp profile (as Docker's loader resolves
// it) to a classic BPF program with libseccomp.
package filter

import (
	"encoding/binary"
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
	// Notify is BPF with every errno and kill return made
	// SECCOMP_RET_USER_NOTIF, for a supervisor that answers each denied
	// call itself (with the errno BPF gives, or by killing the caller)
	// and so learns of it. It is nil when the program does
	// not allow read, write and execve on the native arch whatever their
	// arguments: the launcher needs them after installing the filter.
	Notify []byte
	// Flags are the SECCOMP_FILTER_FLAG_* bits of the profile's flags.
	Flags uint32
	// Skipped says which rules were skipped for a syscall no table
	// knows (an allow, or a denial under a default that denies too).
	Skipped []string
}

// allowLike says whether an action lets the call through.
func allowLike(a action) bool { return a.ret == retAllow || a.ret == retLog }

// Filter flags (SECCOMP_FILTER_FLAG_*) a profile may name (runtime-spec
// "flags"). With none named, SPEC_ALLOW, as runc does.
var profileFlags = map[specs.LinuxSeccompFlag]uint32{
	specs.LinuxSeccompFlagLog:              1 << 1,
	specs.LinuxSeccompFlagSpecAllow:        1 << 2,
	specs.LinuxSeccompFlagWaitKillableRecv: 1 << 5,
}

// flagsOf returns the filter flags of p, or an error naming one it does
// not know.
func flagsOf(p *specs.LinuxSeccomp) (uint32, error) {
	if len(p.Flags) == 0 {
		return profileFlags[specs.LinuxSeccompFlagSpecAllow], nil
	}
	var flags uint32
	for _, f := range p.Flags {
		bit, ok := profileFlags[f]
		if !ok {
			return 0, fmt.Errorf("%w: unknown flag %q", ErrProfile, f)
		}
		flags |= bit
	}
	return flags, nil
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
	case specs.ActKill, specs.ActKillThread, specs.ActKillProcess:
		// Always the whole process: killing one thread of a guest
		// leaves the others running (nsjail#118).
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
		return action{}, fmt.Errorf("%w: action %s: handing the listener to an agent (listenerPath) is not supported; the supervisor answers denied calls itself", ErrProfile, a)
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
//
// The program is libseccomp's, in the compact form of tree.go when that is
// smaller and decides every call exactly as libseccomp's own program does.
func Compile(p *specs.LinuxSeccomp) (*Filter, error) {
	full, err := build(p, nil, nil)
	if err != nil {
		return nil, err
	}
	prog := full.program()
	if compact, ok := full.compact(p); ok && len(compact) < len(prog) {
		prog = compact
	}
	prog = full.stubbed(p, prog)
	if len(prog) > 4096 {
		return nil, fmt.Errorf("%w: the program has %d instructions, more than the kernel's 4096", ErrProfile, len(prog))
	}
	flags, err := flagsOf(p)
	if err != nil {
		return nil, err
	}
	f := &Filter{BPF: encode(prog), Flags: flags, Skipped: full.skipped}
	if notifySafe(prog) {
		f.Notify = encode(notifyVariant(prog))
	}
	return f, nil
}

// notifyVariant returns prog with its errno and kill returns made
// USER_NOTIF.
func notifyVariant(prog []bpf.RawInstruction) []bpf.RawInstruction {
	out := slices.Clone(prog)
	for i, in := range out {
		if in.Op == 0x06 && (in.K&0xffff0000 == retErrno || IsKill(in.K)) {
			out[i].K = unix.SECCOMP_RET_USER_NOTIF
		}
	}
	return out
}

// IsKill says whether a SECCOMP_RET_* value kills: KILL_PROCESS or
// KILL_THREAD.
func IsKill(ret uint32) bool {
	return ret&0xffff0000 == retKillProcess || ret&0xffff0000 == unix.SECCOMP_RET_KILL_THREAD
}

// notifySafe says whether prog allows read, write and execve on the native
// arch whatever their arguments: between installing the filter and
// execve, the launcher hands the listener over with them.
func notifySafe(prog []bpf.RawInstruction) bool {
	native, ok := auditArch[nativeArch()]
	if !ok {
		return false
	}
	for _, nr := range []int{unix.SYS_READ, unix.SYS_WRITE, unix.SYS_EXECVE} {
		if v, err := walk(prog, native, uint32(nr)); err != nil || v != retAllow {
			return false
		}
	}
	return true
}

func nativeArch() libseccomp.ScmpArch {
	a, _ := libseccomp.GetNativeArch()
	return a
}

// compileFull is Compile without the compact form, for tests.
func compileFull(p *specs.LinuxSeccomp) (*Filter, error) {
	full, err := build(p, nil, nil)
	if err != nil {
		return nil, err
	}
	return &Filter{BPF: encode(full.stubbed(p, full.program()))}, nil
}

// stubbed is prog behind the ENOSYS stub of b's profile, if it has one.
func (b *built) stubbed(p *specs.LinuxSeccomp, prog []bpf.RawInstruction) []bpf.RawInstruction {
	stub := enosysStub(p, b.arches, b.def)
	if stub == nil {
		return prog
	}
	raw, err := bpf.Assemble(stub)
	if err != nil {
		panic("filter: assembling the ENOSYS stub: " + err.Error()) // fixed shapes: cannot fail
	}
	return append(raw, prog...)
}

// built is a profile compiled by libseccomp.
type built struct {
	raw     []bpf.RawInstruction // libseccomp's program
	def     action               // the default action
	skipped []string             // rules skipped for syscalls nobody knows
	arches  []libseccomp.ScmpArch
	// newer are the calls libseccomp does not know: their verdict by
	// audit arch and number.
	newer map[uint32]map[uint32]verdict
}

// program is libseccomp's program behind a prefix that decides the newer
// calls.
func (b *built) program() []bpf.RawInstruction {
	var prefix []bpf.Instruction
	for _, audit := range sortedKeys(b.newer) {
		for _, nr := range sortedKeys(b.newer[audit]) {
			prefix = append(prefix,
				bpf.LoadAbsolute{Off: offArch, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: audit, SkipFalse: 3},
				bpf.LoadAbsolute{Off: offNr, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1},
				bpf.RetConstant{Val: uint32(b.newer[audit][nr])},
			)
		}
	}
	raw, err := bpf.Assemble(prefix)
	if err != nil {
		panic("filter: assembling the prefix: " + err.Error()) // fixed shapes: cannot fail
	}
	return append(raw, b.raw...)
}

func sortedKeys[V any](m map[uint32]V) []uint32 {
	k := make([]uint32, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

// compact returns the compact form of b's program, or false when it cannot
// be made or does not check out against the full program.
func (b *built) compact(p *specs.LinuxSeccomp) ([]bpf.RawInstruction, bool) {
	var blocks []block
	for _, a := range b.arches {
		audit, ok := auditArch[a]
		if !ok {
			return nil, false
		}
		if slices.ContainsFunc(blocks, func(bl block) bool { return bl.arch == audit }) {
			continue
		}
		ivs, err := analyze(b.raw, audit, b.newer[audit])
		if err != nil {
			return nil, false
		}
		blocks = append(blocks, block{arch: audit, ivs: ivs})
	}
	badArch, err := walk(b.raw, 0, 0)
	if err != nil || badArch == complexVerdict {
		return nil, false
	}

	// Each arch's complex program: the rules of every call that checks
	// its arguments on that arch, and on i386 of the calls it
	// multiplexes through socketcall and ipc.
	for i := range blocks {
		bl := &blocks[i]
		var arches []libseccomp.ScmpArch
		for _, a := range b.arches {
			if auditArch[a] == bl.arch {
				arches = append(arches, a)
			}
		}
		keep := map[string]bool{}
		for _, rule := range p.Syscalls {
			for _, name := range rule.Names {
				for _, a := range arches {
					nr, err := libseccomp.GetSyscallFromNameByArch(name, a)
					if err != nil {
						continue
					}
					n := int32(nr)
					if (n <= -100 && n >= -299) || (n >= 0 && bl.isComplex(uint32(n))) {
						keep[name] = true
					}
				}
			}
		}
		if !slices.ContainsFunc(bl.ivs, func(iv interval) bool { return iv.v == complexVerdict }) {
			continue
		}
		c, err := build(p, keep, arches)
		if err != nil {
			return nil, false
		}
		bl.complex = c.raw
	}
	prog, err := emit(blocks, uint32(badArch))
	if err != nil {
		return nil, false
	}
	// Check every interval against the full program.
	full := b.program()
	for _, bl := range blocks {
		for _, iv := range bl.ivs {
			want, err1 := walk(full, bl.arch, iv.lo)
			got, err2 := walk(prog, bl.arch, iv.lo)
			if err1 != nil || err2 != nil || want != got {
				return nil, false
			}
		}
	}
	return prog, true
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
	raw := make([]bpf.RawInstruction, len(b)/8)
	for i := range raw {
		r := b[8*i:]
		raw[i] = bpf.RawInstruction{Op: binary.NativeEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:])}
	}
	return raw, nil
}

// VM runs a compiled program in x/net/bpf's interpreter.
type VM struct{ vm *bpf.VM }

// NewVM loads a program (as in Filter.BPF).
func NewVM(prog []byte) (*VM, error) {
	raw := make([]bpf.RawInstruction, len(prog)/8)
	for i := range raw {
		r := prog[8*i:]
		raw[i] = bpf.RawInstruction{Op: binary.NativeEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:])}
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		return nil, errors.New("filter: the program has instructions the VM does not know")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return &VM{vm}, nil
}

// Decide returns the SECCOMP_RET_* value the program gives a call. The VM
// loads words big-endian, so struct seccomp_data is laid out with each
// 32-bit word big-endian where a little-endian kernel keeps it.
func (v *VM) Decide(arch uint32, nr int32, args [6]uint64) (uint32, error) {
	var b [64]byte
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[16+8*i+4:], uint32(a>>32))
	}
	r, err := v.vm.Run(b[:])
	return uint32(r), err
}

// encode turns raw instructions into struct sock_filter bytes.
func encode(raw []bpf.RawInstruction) []byte {
	b := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		b = binary.NativeEndian.AppendUint16(b, r.Op)
		b = append(b, r.Jt, r.Jf)
		b = binary.NativeEndian.AppendUint32(b, r.K)
	}
	return b
}

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

// Learning returns the filter of a learning run for the native arch
// audit: every call returns SECCOMP_RET_TRACE, for the tracer to record,
// but execve and exit_group, and write on fd n (n the number of fds
// passed), the launcher's status pipe: the launcher's own last calls.
func Learning(native, n uint32) []byte {
	const allow, trace = retAllow, unix.SECCOMP_RET_TRACE
	ins := []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: offArch, Size: 4},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: native, SkipTrue: 6},
		/* 2 */ bpf.LoadAbsolute{Off: offNr, Size: 4},
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_EXECVE, SkipTrue: 5},
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_EXIT_GROUP, SkipTrue: 4},
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_WRITE, SkipFalse: 2},
		/* 6 */ bpf.LoadAbsolute{Off: offArg0, Size: 4},
		/* 7 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: n, SkipTrue: 1},
		/* 8 */ bpf.RetConstant{Val: trace},
		/* 9 */ bpf.RetConstant{Val: allow},
	}
	raw, err := bpf.Assemble(ins)
	if err != nil {
		panic("filter: assembling the learning filter: " + err.Error()) // fixed shape
	}
	return encode(raw)
}

// LaunchNeeds are the calls the launcher makes once the filter is in
// place: execve, and write and exit_group to report a failed exec.
var LaunchNeeds = []struct {
	Name string
	Nr   uint32
}{{"execve", unix.SYS_EXECVE}, {"write", unix.SYS_WRITE}, {"exit_group", unix.SYS_EXIT_GROUP}}

// LaunchDenied returns the names of the LaunchNeeds calls that prog does
// not allow (or log) on the native arch. A launch under such a filter
// cannot start the program, nor say why.
func LaunchDenied(prog []byte) ([]string, error) {
	vm, err := NewVM(prog)
	if err != nil {
		return nil, err
	}
	var denied []string
	for _, c := range LaunchNeeds {
		ret, err := vm.Decide(auditArch[nativeArch()], int32(c.Nr), [6]uint64{})
		if err != nil {
			return nil, err
		}
		if ret != retAllow && ret != retLog {
			denied = append(denied, c.Name)
		}
	}
	return denied, nil
}
