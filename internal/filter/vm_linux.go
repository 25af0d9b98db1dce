//go:build linux && cgo

package filter

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

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

// Denied is a call of LaunchNeeds that a filter does not allow.
type Denied struct {
	Name string
	Nr   uint32
	Ret  uint32 // the filter's SECCOMP_RET_* verdict
}

// LaunchDenied returns the LaunchNeeds calls that prog does not allow (or
// log) on the native arch. A launch under such a filter cannot start the
// program, nor say why.
func LaunchDenied(prog []byte) ([]Denied, error) {
	vm, err := NewVM(prog)
	if err != nil {
		return nil, err
	}
	var denied []Denied
	for _, c := range LaunchNeeds {
		ret, err := vm.Decide(auditArch[nativeArch()], int32(c.Nr), [6]uint64{})
		if err != nil {
			return nil, err
		}
		if ret != retAllow && ret != retLog {
			denied = append(denied, Denied{c.Name, c.Nr, ret})
		}
	}
	return denied, nil
}
