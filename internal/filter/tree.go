package filter

import (
	"errors"
	"slices"
	"sort"

	"golang.org/x/net/bpf"
)

// The compact form of a filter.
//
// libseccomp's program checks the arch, then walks a tree of syscall
// numbers; only some numbers go on to check arguments. For a given arch and
// number the path up to the first argument load is fixed, so the verdict of
// every number that never loads an argument is a constant, and it is the
// same for every number between two consecutive constants the program
// compares the number with. A range tree over those intervals decides them
// in a few instructions; the numbers that do check arguments jump to a
// second libseccomp program that holds only their rules.
//
// analyze finds the intervals by walking the full program from each
// interval's first number; emit lays out the tree. Compile checks the
// result against the full program and keeps the full program whenever
// anything is not as expected.

// verdict is a SECCOMP_RET_* value, or complexVerdict for numbers whose
// verdict depends on the arguments.
type verdict uint64

const complexVerdict verdict = 1 << 32

type interval struct {
	lo uint32 // first number; the interval ends where the next begins
	v  verdict
}

var errUnexpected = errors.New("filter: program shape not understood")

// walk runs prog on (arch, nr) until it returns or loads something other
// than the arch or the number.
func walk(prog []bpf.RawInstruction, arch, nr uint32) (verdict, error) {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(prog); {
		in := prog[pc]
		pc++
		switch in.Op {
		case 0x20: // ld [k]
			switch in.K {
			case 0:
				a = nr
			case 4:
				a = arch
			default:
				return complexVerdict, nil
			}
		case 0x05: // ja
			pc += int(in.K)
		case 0x15, 0x25, 0x35: // jeq, jgt, jge #k
			var t bool
			switch in.Op {
			case 0x15:
				t = a == in.K
			case 0x25:
				t = a > in.K
			default:
				t = a >= in.K
			}
			if t {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case 0x06: // ret #k
			return verdict(in.K), nil
		case 0x07: // tax
			x = a
		case 0x87: // txa
			a = x
		case 0x02: // st M[k]
			if in.K >= 16 {
				return 0, errUnexpected
			}
			mem[in.K] = a
		case 0x60: // ld M[k]
			if in.K >= 16 {
				return 0, errUnexpected
			}
			a = mem[in.K]
		default:
			// jset, ALU and the rest would make the verdict vary
			// inside an interval: not the shape this relies on.
			return 0, errUnexpected
		}
	}
	return 0, errUnexpected
}

// breakpoints returns the numbers at which a comparison in prog can change
// its outcome, sorted, starting with 0.
func breakpoints(prog []bpf.RawInstruction, extra []uint32) []uint32 {
	pts := []uint32{0}
	for _, in := range prog {
		switch in.Op {
		case 0x15, 0x25, 0x35:
			pts = append(pts, in.K)
			if in.K != ^uint32(0) {
				pts = append(pts, in.K+1)
			}
		}
	}
	for _, n := range extra {
		pts = append(pts, n)
		if n != ^uint32(0) {
			pts = append(pts, n+1)
		}
	}
	slices.Sort(pts)
	return slices.Compact(pts)
}

// analyze returns the intervals of arch, with overrides (numbers the full
// program does not know, and their verdicts) applied.
func analyze(prog []bpf.RawInstruction, arch uint32, overrides map[uint32]verdict) ([]interval, error) {
	var extra []uint32
	for n := range overrides {
		extra = append(extra, n)
	}
	var ivs []interval
	for _, lo := range breakpoints(prog, extra) {
		v, ok := overrides[lo]
		if !ok {
			var err error
			if v, err = walk(prog, arch, lo); err != nil {
				return nil, err
			}
		}
		if len(ivs) > 0 && ivs[len(ivs)-1].v == v {
			continue
		}
		ivs = append(ivs, interval{lo, v})
	}
	return ivs, nil
}

// block is one arch's part of the compact program.
type block struct {
	arch    uint32
	ivs     []interval
	complex []bpf.RawInstruction // where its complex numbers jump
}

// isComplex reports whether nr's verdict depends on the arguments.
func (b *block) isComplex(nr uint32) bool {
	i := sort.Search(len(b.ivs), func(i int) bool { return b.ivs[i].lo > nr }) - 1
	return i >= 0 && b.ivs[i].v == complexVerdict
}

// emit lays out the compact program: an arch dispatch, a range tree per
// arch, then each arch's complex program. badArch is the verdict of arches
// not listed.
func emit(blocks []block, badArch uint32) ([]bpf.RawInstruction, error) {
	var out []bpf.Instruction
	toComplex := make([][]int, len(blocks)) // per block, the jumps to patch
	// The dispatch: ld arch; per arch "jeq A, 0, 1; ja block".
	out = append(out, bpf.LoadAbsolute{Off: 4, Size: 4})
	dispatch := len(out)
	for range blocks {
		out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual}, bpf.Jump{})
	}
	out = append(out, bpf.RetConstant{Val: badArch})
	for i, b := range blocks {
		start := len(out)
		out[dispatch+2*i] = bpf.JumpIf{Cond: bpf.JumpEqual, Val: b.arch, SkipTrue: 0, SkipFalse: 1}
		out[dispatch+2*i+1] = bpf.Jump{Skip: uint32(start - (dispatch + 2*i + 2))}
		out = append(out, bpf.LoadAbsolute{Off: 0, Size: 4})
		body, jumps, ok := sharedTree(b.ivs)
		if !ok {
			body, jumps = tree(b.ivs)
		}
		for _, j := range jumps {
			toComplex[i] = append(toComplex[i], len(out)+j)
		}
		out = append(out, body...)
		if len(jumps) > 0 && len(b.complex) == 0 {
			return nil, errUnexpected
		}
	}
	at := len(out)
	var tail []bpf.RawInstruction
	for i, b := range blocks {
		if len(toComplex[i]) == 0 {
			continue
		}
		for _, j := range toComplex[i] {
			out[j] = bpf.Jump{Skip: uint32(at - (j + 1))}
		}
		tail = append(tail, b.complex...)
		at += len(b.complex)
	}
	raw, err := bpf.Assemble(out)
	if err != nil {
		return nil, err
	}
	return append(raw, tail...), nil
}

// tree returns a binary search over ivs (the number is in A) and the
// indexes, in it, of the jumps to the complex program, to be patched.
func tree(ivs []interval) ([]bpf.Instruction, []int) {
	if len(ivs) == 1 {
		if ivs[0].v == complexVerdict {
			return []bpf.Instruction{bpf.Jump{}}, []int{0}
		}
		return []bpf.Instruction{bpf.RetConstant{Val: uint32(ivs[0].v)}}, nil
	}
	mid := len(ivs) / 2
	left, lj := tree(ivs[:mid])
	right, rj := tree(ivs[mid:])
	var out []bpf.Instruction
	if len(left) <= 255 {
		// A >= lo of the right half: skip the left half.
		out = append(out, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: ivs[mid].lo, SkipTrue: uint8(len(left))})
	} else {
		out = append(out, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: ivs[mid].lo, SkipTrue: 0, SkipFalse: 1},
			bpf.Jump{Skip: uint32(len(left))})
	}
	base := len(out)
	out = append(out, left...)
	jumps := make([]int, 0, len(lj)+len(rj))
	for _, j := range lj {
		jumps = append(jumps, base+j)
	}
	rbase := len(out)
	out = append(out, right...)
	for _, j := range rj {
		jumps = append(jumps, rbase+j)
	}
	return out, jumps
}

// sharedTree is tree with one return per verdict at the end of the block,
// which the comparisons jump to directly: about half the instructions of
// tree. It fails when a jump would be longer than 255 instructions.
func sharedTree(ivs []interval) ([]bpf.Instruction, []int, bool) {
	type ref struct {
		terminal bool
		i        int // node index or terminal index
	}
	type node struct {
		k    uint32
		t, f ref
	}
	var nodes []node
	var terms []verdict
	termOf := func(v verdict) ref {
		i := slices.Index(terms, v)
		if i < 0 {
			i = len(terms)
			terms = append(terms, v)
		}
		return ref{terminal: true, i: i}
	}
	var build func(ivs []interval) ref
	build = func(ivs []interval) ref {
		if len(ivs) == 1 {
			return termOf(ivs[0].v)
		}
		i := len(nodes)
		nodes = append(nodes, node{})
		mid := len(ivs) / 2
		f := build(ivs[:mid])
		t := build(ivs[mid:])
		nodes[i] = node{k: ivs[mid].lo, t: t, f: f}
		return ref{i: i}
	}
	root := build(ivs)
	if root.terminal {
		return nil, nil, false // one interval: tree makes it one return
	}
	pos := func(r ref) int {
		if r.terminal {
			return len(nodes) + r.i
		}
		return r.i
	}
	out := make([]bpf.Instruction, 0, len(nodes)+len(terms))
	for i, n := range nodes {
		jt, jf := pos(n.t)-(i+1), pos(n.f)-(i+1)
		if jt > 255 || jf > 255 {
			return nil, nil, false
		}
		out = append(out, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: n.k, SkipTrue: uint8(jt), SkipFalse: uint8(jf)})
	}
	var jumps []int
	for _, v := range terms {
		if v == complexVerdict {
			jumps = append(jumps, len(out))
			out = append(out, bpf.Jump{})
		} else {
			out = append(out, bpf.RetConstant{Val: uint32(v)})
		}
	}
	return out, jumps, true
}
