//go:build linux && cgo

// Package filter compiles an OCI seccomp profile (as Docker's loader resolves
// it) to a classic BPF program with libseccomp.
package filter

import (
	"errors"
	"fmt"
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
	// Notify is BPF with every errno and process-kill return made
	// SECCOMP_RET_USER_NOTIF, for a supervisor that answers each denied
	// call itself (with the errno BPF gives, or by killing the caller's
	// process) and so learns of it. Thread kills stay the kernel's: no
	// one can kill a single thread of another process. It is nil when the program does
	// not allow read, write and execve on the native arch whatever their
	// arguments: the launcher needs them after installing the filter.
	Notify []byte
	// Flags are the SECCOMP_FILTER_FLAG_* bits of the profile's flags.
	Flags uint32
	// ListenerPath is the unix socket of the agent that answers the
	// profile's SCMP_ACT_NOTIFY calls with the filter's listener
	// (runtime-spec "listenerPath"), or "". ListenerMetadata goes to it
	// with the listener.
	ListenerPath, ListenerMetadata string
	// ThreadKills says that some verdict of BPF is KILL_THREAD, which
	// the kernel carries out even under Notify.
	ThreadKills bool
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
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
)

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
	f := newFilter(prog, flags)
	f.Skipped = full.skipped
	switch {
	case usesNotify(p):
		// The agent at listenerPath answers the profile's NOTIFY
		// calls with the filter's listener, and a task has one
		// listener at most: no Notify variant.
		if p.ListenerPath == "" {
			return nil, fmt.Errorf("%w: SCMP_ACT_NOTIFY needs a listenerPath, the unix socket of the agent that answers the calls", ErrProfile)
		}
		if f.Notify == nil {
			return nil, fmt.Errorf("%w: SCMP_ACT_NOTIFY: the profile must allow read, write and execve, with which the launch hands the listener over before the exec", ErrProfile)
		}
		f.Notify = nil
		f.ListenerPath, f.ListenerMetadata = p.ListenerPath, p.ListenerMetadata
	case p.ListenerPath != "":
		return nil, fmt.Errorf("%w: listenerPath %q with no SCMP_ACT_NOTIFY rule", ErrProfile, p.ListenerPath)
	}
	return f, nil
}

// newFilter is the Filter of a finished program, with its notify variant
// where the launch can hand a listener over under it.
func newFilter(prog []bpf.RawInstruction, flags uint32) *Filter {
	f := &Filter{BPF: encode(prog), Flags: flags, ThreadKills: killsThreads(prog)}
	if notifySafe(prog) {
		f.Notify = encode(notifyVariant(prog))
	}
	return f
}

// FromProgram is the Filter of prog, struct sock_filter bytes that Compile
// made ahead of time (Filter.BPF) from a profile with no flags, no
// listenerPath and no skipped rule: the very Filter Compile gives for it.
func FromProgram(prog []byte) (*Filter, error) {
	if len(prog) == 0 || len(prog)%8 != 0 || len(prog) > 8*4096 {
		return nil, fmt.Errorf("filter: a program of %d bytes", len(prog))
	}
	noFlags, _ := flagsOf(&specs.LinuxSeccomp{})
	return newFilter(decode(prog), noFlags), nil
}

// notifyVariant returns prog with its errno and process-kill returns made
// USER_NOTIF.
func notifyVariant(prog []bpf.RawInstruction) []bpf.RawInstruction {
	out := slices.Clone(prog)
	for i, in := range out {
		if in.Op == 0x06 && (in.K&0xffff0000 == retErrno || in.K&0xffff0000 == retKillProcess) {
			out[i].K = unix.SECCOMP_RET_USER_NOTIF
		}
	}
	return out
}

// usesNotify says whether p asks for SCMP_ACT_NOTIFY anywhere.
func usesNotify(p *specs.LinuxSeccomp) bool {
	return p.DefaultAction == specs.ActNotify || slices.ContainsFunc(p.Syscalls, func(r specs.LinuxSyscall) bool {
		return r.Action == specs.ActNotify
	})
}

// killsThreads says whether some return of prog is KILL_THREAD.
func killsThreads(prog []bpf.RawInstruction) bool {
	return slices.ContainsFunc(prog, func(in bpf.RawInstruction) bool {
		return in.Op == 0x06 && in.K&0xffff0000 == retKillThread
	})
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
