//go:build linux && cgo

package filter_test

import (
	"testing"

	"github.com/gosandbox/sandbox/internal/filter"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// Names from several ABIs: common calls, i386's socketcall family, x86-only
// and newer calls, and ones Docker checks by argument.
var fuzzNames = []string{"read", "write", "openat", "mount", "clone", "clone3", "personality", "socket",
	"bind", "connect", "semop", "ipc", "socketcall", "arch_prctl", "statmount", "mseal", "kill",
	"getpid", "mkdir", "chown", "fchownat", "unshare", "ptrace", "execve", "exit_group"}

var fuzzActions = []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKillProcess, specs.ActTrap, specs.ActLog}

var fuzzOps = []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan,
	specs.OpLessEqual, specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}

// profileFrom builds a valid profile from fuzz bytes.
func profileFrom(b []byte) *specs.LinuxSeccomp {
	next := func() int {
		if len(b) == 0 {
			return 0
		}
		v := int(b[0])
		b = b[1:]
		return v
	}
	errno := uint(next()%40 + 1)
	p := &specs.LinuxSeccomp{DefaultAction: fuzzActions[next()%len(fuzzActions)], DefaultErrnoRet: &errno}
	if next()%2 == 0 {
		p.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	}
	for range next() % 8 {
		r := specs.LinuxSyscall{Action: fuzzActions[next()%len(fuzzActions)]}
		if next()%3 == 0 {
			e := uint(next()%40 + 1)
			r.ErrnoRet = &e
		}
		for range next()%3 + 1 {
			r.Names = append(r.Names, fuzzNames[next()%len(fuzzNames)])
		}
		for range next() % 3 {
			r.Args = append(r.Args, specs.LinuxSeccompArg{Index: uint(next() % 3), Value: uint64(next()), ValueTwo: uint64(next()), Op: fuzzOps[next()%len(fuzzOps)]})
		}
		p.Syscalls = append(p.Syscalls, r)
	}
	return p
}

// FuzzCompactMatchesFull compiles random valid profiles both ways and
// compares the programs on every ABI, the numbers up to 500 on each, and
// the arguments that matter to the profile.
func FuzzCompactMatchesFull(f *testing.F) {
	f.Add([]byte{1, 0, 0, 3, 2, 0, 1, 5, 1, 7, 0, 1, 2, 3})
	f.Add([]byte{0, 1, 1, 5, 3, 1, 2, 9, 10, 11, 2, 0, 8, 2, 1})
	f.Add([]byte{2, 2, 0, 7, 1, 0, 0, 12, 2, 1, 5, 5, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := profileFrom(b)
		compact, err1 := filter.Compile(p)
		full, err2 := filter.CompileFull(p)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("Compile %v, CompileFull %v", err1, err2)
		}
		if err1 != nil {
			return // a profile libseccomp refuses (args on an unknown call, ...)
		}
		vc, vf := vm(t, compact), vm(t, full)
		var vals []uint64
		for _, r := range p.Syscalls {
			for _, a := range r.Args {
				vals = append(vals, a.Value, a.Value+1, a.Value-1, a.ValueTwo)
			}
		}
		argSets := [][6]uint64{{}, {^uint64(0), ^uint64(0), ^uint64(0)}}
		for _, v := range vals {
			argSets = append(argSets, [6]uint64{v, v, v})
		}
		for _, arch := range []uint32{archX86_64, archI386, archARM64} {
			for nr := uint32(0); nr < 500; nr++ {
				for _, n := range []uint32{nr, nr | x32} {
					for _, args := range argSets {
						a, _ := vc.Decide(arch, int32(n), args)
						b, _ := vf.Decide(arch, int32(n), args)
						if a != b {
							t.Fatalf("arch %#x nr %#x args %#x: compact %#x, libseccomp %#x\nprofile %+v", arch, n, args, a, b, p)
						}
					}
				}
			}
		}
	})
}
