//go:build linux && cgo

package launch

import (
	"encoding/binary"
	"os"
)

// Program is the list of steps the child runs between clone and execve, in
// order. Build it with the methods below; each takes the Desc that names the
// step in an error.
type Program struct {
	steps []step
	descs []Desc
	slots int
}

type argKind uint8

const (
	argNum  argKind = iota
	argStr          // a NUL-terminated string
	argNull         // a NULL pointer
	argBytes
	argStrv  // a NULL-terminated array of strings
	argInt32 // an array of fds (int32), sent along with the block
	argFprog // a struct sock_fprog around a BPF program
)

type arg struct {
	kind argKind
	n    uint64
	s    string
	b    []byte
	v    []string
	i32  []int32
}

type step struct {
	code  int32
	flags int32
	args  []arg
}

// Step flags, from launcher.h.
const (
	flagOptional = 1
	flagExistOK  = 2
)

func num(n uint64) arg      { return arg{kind: argNum, n: n} }
func str(s string) arg      { return arg{kind: argStr, s: s} }
func bytesArg(b []byte) arg { return arg{kind: argBytes, b: b} }

// strOrNull is NULL for "" (mount(2) wants NULL, not "", for unused fields).
func strOrNull(s string) arg {
	if s == "" {
		return arg{kind: argNull}
	}
	return str(s)
}

// Descs returns the steps' descriptions, in the order they run.
func (p *Program) Descs() []Desc { return append([]Desc(nil), p.descs...) }

func (p *Program) add(d Desc, code, flags int32, args ...arg) {
	if len(args) > stepArgs {
		panic("launch: a step with more arguments than struct sb_step holds") // a bug in this package
	}
	p.steps = append(p.steps, step{code: code, flags: flags, args: args})
	p.descs = append(p.descs, d)
}

// Setsid starts a new session.
func (p *Program) Setsid(d Desc) { p.add(d, codeSetsid, 0) }

// Setgroups sets the supplementary groups to gids (none or one).
func (p *Program) Setgroups(d Desc, gids ...uint32) {
	var g uint64
	if len(gids) > 0 {
		g = uint64(gids[0])
	}
	p.add(d, codeSetgroups, 0, num(uint64(min(len(gids), 1))), num(g))
}

// Setresgid sets the real, effective and saved gid.
func (p *Program) Setresgid(d Desc, gid uint32) { p.add(d, codeSetresgid, 0, num(uint64(gid))) }

// Setresuid sets the real, effective and saved uid.
func (p *Program) Setresuid(d Desc, uid uint32) { p.add(d, codeSetresuid, 0, num(uint64(uid))) }

// Mount is mount(2). Empty strings are passed as NULL.
func (p *Program) Mount(d Desc, source, target, fstype string, flags uintptr, data string, optional bool) {
	p.add(d, codeMount, optFlag(optional), strOrNull(source), str(target), strOrNull(fstype), num(uint64(flags)), strOrNull(data))
}

// OpenTree clones the mount tree at path (with its submounts if recursive)
// into a detached mount, sets and clears mount attributes on it and keeps it
// in slot for MoveMount.
func (p *Program) OpenTree(d Desc, path string, recursive bool, slot int, attrSet, attrClr uint64) {
	p.slots = max(p.slots, slot+1)
	p.add(d, codeOpenTree, 0, str(path), num(b2u(recursive)), num(uint64(slot)), num(attrSet), num(attrClr))
}

// MoveMount attaches the detached mount in slot at target.
func (p *Program) MoveMount(d Desc, slot int, target string) {
	p.add(d, codeMoveMount, 0, num(uint64(slot)), str(target))
}

// SetAttr sets and clears mount attributes (MOUNT_ATTR_*) of the mount at path.
func (p *Program) SetAttr(d Desc, path string, recursive bool, attrSet, attrClr uint64, optional bool) {
	p.add(d, codeSetattr, optFlag(optional), str(path), num(b2u(recursive)), num(attrSet), num(attrClr))
}

// Mkdir makes a directory; one that exists already is fine.
func (p *Program) Mkdir(d Desc, path string, mode uint32) {
	p.add(d, codeMkdir, flagExistOK, str(path), num(uint64(mode)))
}

// Create makes an empty file (or opens one that exists).
func (p *Program) Create(d Desc, path string, mode uint32) {
	p.add(d, codeCreate, 0, str(path), num(uint64(mode)))
}

// Symlink makes a symbolic link at path that points to target.
func (p *Program) Symlink(d Desc, target, path string) {
	p.add(d, codeSymlink, 0, str(target), str(path))
}

// WriteFile makes a new file at path with data.
func (p *Program) WriteFile(d Desc, path string, data []byte, mode uint32) {
	p.add(d, codeWriteFile, 0, str(path), bytesArg(data), num(uint64(len(data))), num(uint64(mode)))
}

// PivotRoot makes newRoot the root and detaches the old one.
func (p *Program) PivotRoot(d Desc, newRoot string) { p.add(d, codePivotRoot, 0, str(newRoot)) }

// Chdir changes the working directory.
func (p *Program) Chdir(d Desc, path string) { p.add(d, codeChdir, 0, str(path)) }

// Sethostname sets the host name of the UTS namespace.
func (p *Program) Sethostname(d Desc, name string) {
	p.add(d, codeSethostname, 0, str(name), num(uint64(len(name))))
}

// LoopbackUp brings up lo in the network namespace.
func (p *Program) LoopbackUp(d Desc) { p.add(d, codeLoopbackUp, 0) }

// CapbsetDrop drops capabilities 0..lastCap from the bounding set.
func (p *Program) CapbsetDrop(d Desc, lastCap int) {
	p.add(d, codeCapbsetDrop, 0, num(uint64(lastCap)))
}

// Securebits sets the securebits.
func (p *Program) Securebits(d Desc, bits uint64) { p.add(d, codeSecurebits, 0, num(bits)) }

// ClearCaps clears the ambient set, then the effective, permitted and
// inheritable sets.
func (p *Program) ClearCaps(d Desc) { p.add(d, codeClearCaps, 0) }

// NoNewPrivs sets no_new_privs.
func (p *Program) NoNewPrivs(d Desc) { p.add(d, codeNoNewPrivs, 0) }

// Pdeathsig arms the parent-death signal and fails if the parent is gone.
func (p *Program) Pdeathsig(d Desc, sig int) { p.add(d, codePdeathsig, 0, num(uint64(sig))) }

// Setrlimit sets a resource limit.
func (p *Program) Setrlimit(d Desc, resource int, cur, max uint64) {
	p.add(d, codeSetrlimit, 0, num(uint64(resource)), num(cur), num(max))
}

// FDs makes src[i] the child's fd i and marks every other fd close-on-exec.
func (p *Program) FDs(d Desc, src []int32) {
	p.add(d, codeFDs, 0, arg{kind: argInt32, i32: src}, num(uint64(len(src))))
}

// UnblockSignals empties the signal mask.
func (p *Program) UnblockSignals(d Desc) { p.add(d, codeUnblockSignals, 0) }

// Seccomp installs a classic BPF seccomp filter (struct sock_filter array).
// With listen, the filter's listener fd goes to the parent (Process.Listener).
//
// flags are SECCOMP_FILTER_FLAG_* bits; those a kernel does not have
// (LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV) are left out there.
func (p *Program) Seccomp(d Desc, filter []byte, listen bool, flags uint32) {
	p.add(d, codeSeccomp, 0, arg{kind: argFprog, b: filter}, num(b2u(listen)), num(uint64(flags)))
}

// Exec runs execve on each candidate path in turn until one does not fail
// with ENOENT, ENOTDIR or EACCES.
func (p *Program) Exec(d Desc, candidates, argv, env []string) {
	p.add(d, codeExec, 0, arg{kind: argStrv, v: candidates}, arg{kind: argStrv, v: argv}, arg{kind: argStrv, v: env})
}

// Unshare moves the child into new namespaces (CLONE_* flags).
func (p *Program) Unshare(d Desc, flags uintptr) { p.add(d, codeUnshare, 0, num(uint64(flags))) }

// Tracee has the supervisor attach to the child (PTRACE_SEIZE with
// Spec.Trace) here, from the thread that calls Start: its exec then stops
// before the program's first instruction, whatever process is its parent.
func (p *Program) Tracee(d Desc) { p.add(d, codeTracee, 0) }

// SlotFD puts f, a detached mount the supervisor made (open_tree), in
// slot for MoveMount, in place of an OpenTree.
func (p *Program) SlotFD(d Desc, f *os.File, slot int) {
	p.slots = max(p.slots, slot+1)
	p.add(d, codeSlotFD, 0, arg{kind: argInt32, i32: []int32{int32(f.Fd())}}, num(uint64(slot)))
}

// Umask sets the file mode creation mask.
func (p *Program) Umask(d Desc, mask uint32) { p.add(d, codeUmask, 0, num(uint64(mask))) }

// NewKeyring joins a new, empty session keyring.
func (p *Program) NewKeyring(d Desc) { p.add(d, codeNewKeyring, 0) }

// ResetSched sets SCHED_OTHER and every CPU of the cpuset. (Nice and
// oom_score_adj are reset in the zygote, which children inherit.)
func (p *Program) ResetSched(d Desc) { p.add(d, codeResetSched, 0) }

// Init forks the program here: the steps after it run in the program,
// while this process stays as its init (pid 1 of its pid namespace). The
// init forwards the signals it gets to the program, reaps orphans, and
// when the program ends reports its wait status and exits, which kills
// what is left in the namespace.
func (p *Program) Init(d Desc) { p.add(d, codeInit, 0) }

// ExecStatic is Exec for static ELF executables of the native arch: each
// candidate is opened and checked, then executed through the same fd. A
// refused candidate fails the step with one of the Err* guest errors.
func (p *Program) ExecStatic(d Desc, candidates, argv, env []string) {
	p.add(d, codeExecStatic, 0, arg{kind: argStrv, v: candidates}, arg{kind: argStrv, v: argv}, arg{kind: argStrv, v: env})
}

// Park makes the child stop here, once it has run the steps before, and
// wait: Start returns a Parked Process, and Resume gives it the rest of
// its steps (Split makes both).
func (p *Program) Park(d Desc) { p.add(d, codePark, 0) }

// Split cuts p after its Park step: head ends with it, tail has the steps
// after. Without a Park step, head is p and tail is nil.
func (p *Program) Split() (head, tail *Program) {
	for i, s := range p.steps {
		if s.code == codePark {
			return &Program{steps: p.steps[:i+1], descs: p.descs[:i+1], slots: p.slots},
				&Program{steps: p.steps[i+1:], descs: p.descs[i+1:]}
		}
	}
	return p, nil
}

func optFlag(optional bool) int32 {
	if optional {
		return flagOptional
	}
	return 0
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// encode lays the program out as one block: the sb_config at offset 0, then
// the steps, the slots and the data they point to. Pointers are stored as
// offsets into the block; relocs lists where they are, for the zygote to
// add the block's address. The fds of FDs steps are written as fdIndex
// gives them: indices into the fds sent along with the block.
func (p *Program) encode(fdIndex func(fd int32) int32) (blk []byte, relocs []uint32) {
	var e encoder
	e.fdIndex = fdIndex
	e.buf = make([]byte, configSize, 4096)
	stepsAt := e.alloc(stepSize * len(p.steps))
	slotsAt := e.alloc(4 * max(p.slots, 1))
	ne := binary.NativeEndian
	ne.PutUint32(e.buf[offNSteps:], uint32(len(p.steps)))
	ne.PutUint32(e.buf[offNSlots:], uint32(p.slots))
	e.pointer(offSteps, stepsAt)
	e.pointer(offSlots, slotsAt)
	for i, s := range p.steps {
		at := stepsAt + i*stepSize
		ne.PutUint32(e.buf[at+offCode:], uint32(s.code))
		ne.PutUint32(e.buf[at+offFlags:], uint32(s.flags))
		for j, a := range s.args {
			e.arg(at+offArgs+8*j, a)
		}
	}
	return e.buf, e.relocs
}

type encoder struct {
	buf     []byte
	relocs  []uint32
	fdIndex func(int32) int32
}

// alloc reserves n zero bytes, 8-aligned, and returns their offset.
func (e *encoder) alloc(n int) int {
	for len(e.buf)%8 != 0 {
		e.buf = append(e.buf, 0)
	}
	at := len(e.buf)
	e.buf = append(e.buf, make([]byte, n)...)
	return at
}

func (e *encoder) pointer(at, target int) {
	binary.NativeEndian.PutUint64(e.buf[at:], uint64(target))
	e.relocs = append(e.relocs, uint32(at))
}

func (e *encoder) cstring(s string) int {
	at := e.alloc(len(s) + 1)
	copy(e.buf[at:], s)
	return at
}

func (e *encoder) arg(at int, a arg) {
	ne := binary.NativeEndian
	switch a.kind {
	case argNum:
		ne.PutUint64(e.buf[at:], a.n)
	case argNull:
	case argStr:
		e.pointer(at, e.cstring(a.s))
	case argBytes:
		t := e.alloc(max(len(a.b), 1))
		copy(e.buf[t:], a.b)
		e.pointer(at, t)
	case argFprog:
		// struct sock_fprog { unsigned short len; struct sock_filter *filter; }
		filter := e.alloc(len(a.b))
		copy(e.buf[filter:], a.b)
		prog := e.alloc(16)
		ne.PutUint16(e.buf[prog:], uint16(len(a.b)/8))
		e.pointer(prog+8, filter)
		e.pointer(at, prog)
	case argInt32:
		t := e.alloc(4 * max(len(a.i32), 1))
		for i, v := range a.i32 {
			ne.PutUint32(e.buf[t+4*i:], uint32(e.fdIndex(v)))
		}
		e.pointer(at, t)
	case argStrv:
		offs := make([]int, len(a.v))
		for i, s := range a.v {
			offs[i] = e.cstring(s)
		}
		t := e.alloc(8 * (len(a.v) + 1))
		for i, o := range offs {
			e.pointer(t+8*i, o)
		}
		e.pointer(at, t)
	}
}
