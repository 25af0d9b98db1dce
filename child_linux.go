//go:build linux && cgo

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/gosandbox/sandbox/internal/launch"
	"github.com/gosandbox/sandbox/ns"
	"github.com/gosandbox/sandbox/rootfs"
	"golang.org/x/sys/unix"
)

// launchError turns a launcher failure into the package's error types.
func launchError(cmd *Cmd, err error) error {
	var se *launch.StepError
	if !errors.As(err, &se) {
		return &SetupError{Stage: "launch", Op: "start", Err: err}
	}
	if se.Stage == "exec" && se.Op == "execve" {
		if reason, ok := guestReasons[se.Err]; ok {
			return &GuestError{Name: cmd.Path, Reason: reason}
		}
		return &ExecError{Name: cmd.Path, Err: se.Err}
	}
	out := &SetupError{Stage: se.Stage, Op: se.Op, Path: se.Path, Err: se.Err}
	if se.Stage == "workdir" && errors.Is(se.Err, unix.EACCES) {
		// The ownership rule, said where it bites.
		out.Err = fmt.Errorf("%w: the sandbox user may not enter it: a read-write bind is used as the caller's own (an idmapped mount, as root) only where the filesystem supports it and the directory is the caller's; otherwise as the sandbox user's (host uid 65534 as root, the caller rootless)", se.Err)
	}
	if se.Stage == "clone" && (errors.Is(se.Err, unix.EPERM) || errors.Is(se.Err, unix.ENOSPC) || errors.Is(se.Err, unix.EINVAL) || errors.Is(se.Err, unix.EUSERS)) {
		// No namespaces for us: user namespaces are off, or too many.
		return &UnsupportedError{What: "namespaces", Err: out}
	}
	return out
}

// guestReasons say why strict mode refused a program.
var guestReasons = map[error]string{
	launch.ErrScript:  "a script (#!), not a static executable",
	launch.ErrNotELF:  "not an ELF executable",
	launch.ErrArch:    "an ELF executable for another architecture",
	launch.ErrDynamic: "a dynamic executable (it names an interpreter, PT_INTERP)",
}

var lastCap = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return 63 // the launcher skips the ones the kernel does not have
})

// userMaps are the id maps of the sandbox's user namespace: never host
// root, the sandbox user maps to an unprivileged host id, so an escape
// lands as nobody (or as the caller). Without a user namespace, the
// sandbox user's ids are host ids, each mapped to itself.
func (c *config) userMaps() ns.Maps {
	if c.namespaces.Has(ns.User) {
		return ns.MapsFor(c.root.UID, c.root.GID, os.Geteuid(), os.Getegid())
	}
	return ns.Maps{UID: ns.IDMap{Inside: c.root.UID, Outside: c.root.UID, Count: 1}, GID: ns.IDMap{Inside: c.root.GID, Outside: c.root.GID, Count: 1}}
}

// Securebits that make root inside the sandbox no more than any user:
// executing a program grants no capabilities, a uid change never restores
// any, and neither can be undone.
const lockedSecurebits = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<5 // NOROOT(+LOCKED), NO_SETUID_FIXUP(+LOCKED), KEEP_CAPS_LOCKED

// spec builds the launch: clone flags, id maps and the child's steps, in
// this order (TestChildOrder asserts the orderings marked *):
//
//  1. unshare the cgroup namespace (the child is in its cgroup already)
//  2. setsid; umask 022; default scheduling in its cpuset
//  3. without a user namespace: make / a slave (no propagation to the host)
//  4. * capture every host path (open_tree): before any id change, with
//     the caller's rights, while the host is visible
//  5. with a user namespace: setgroups, setresgid, setresuid
//  6. the root: tmpfs, proc, pivot_root, masks, /dev, /etc, /tmp, the
//     caller's mounts, read-only (every path with no magic link followed)
//  7. hostname, loopback up; drop the bounding set, lock securebits
//  8. * chdir, after the pivot (no host directory as the cwd)
//  9. * fds 0-2 and extras, after chdir; close every other
//  10. without a user namespace the id change here; clear the
//     capabilities
//  11. * no_new_privs, before the filter
//  12. a new session keyring; rlimits
//  13. * the parent-death signal, after the id change (which clears it)
//  14. * the init (fork of the program), after the above and before the
//     filter, which the init must not have
//  15. unblock signals (the program only: the init keeps them blocked)
//  16. the tracer's seize (strict, learning)
//  17. * the seccomp filter, the last step before execve
//  18. execve
//
// A parked launch (a Pool's prepared child) stops between 7 and 8: what
// comes before depends on the configuration alone, what comes after on
// the program too; the run in that child is given steps 8-18 alone
// (afterPark), the same steps as those after the park of a parked launch.
func (c *config) spec(cmd *Cmd, m mode, fds []int32, argv, env, candidates []string, su *setup, part launchPart) (*launch.Spec, error) {
	p := &launch.Program{}
	d := func(stage, op, path string) launch.Desc { return launch.Desc{Stage: stage, Op: op, Path: path} }
	uid, gid := c.root.UID, c.root.GID
	userns := c.namespaces.Has(ns.User)
	// Fresh namespaces: with its own pid namespace, under its init, every
	// process the program leaves dies with it and none of the host is
	// visible to ptrace or kill (threats 7, 15, 16).
	spec := &launch.Spec{CloneFlags: c.namespaces.CloneFlags() &^ unix.CLONE_NEWCGROUP, Program: p}
	maps := c.userMaps()
	if userns {
		spec.UIDMap, spec.GIDMap, spec.DenySetgroups = maps.UID.String(), maps.GID.String(), maps.DenySetgroups
	}

	creds := func() {
		if !maps.DenySetgroups {
			// No supplementary group of the caller's survives.
			p.Setgroups(d("credentials", "setgroups", ""))
		}
		p.Setresgid(d("credentials", "setresgid "+strconv.FormatUint(uint64(gid), 10), ""), gid)
		p.Setresuid(d("credentials", "setresuid "+strconv.FormatUint(uint64(uid), 10), ""), uid)
	}
	if part != afterPark {
		c.headSteps(p, su, userns, creds)
	}
	if part == parkedLaunch {
		// A prepared child waits here for its program (Pool).
		p.Park(d("pool", "park", ""))
	}

	dir := cmd.Dir
	if dir == "" {
		dir = c.workDir
	}
	if dir == "" && c.namespaces.Has(ns.Mount) {
		dir = "/tmp"
	}
	if dir == "" {
		// No root of its own: the caller's directory of the moment (the
		// child is forked by the zygote, whose own is /).
		if wd, err := os.Getwd(); err == nil {
			dir = wd
		}
	}
	if dir != "" {
		// The working directory is resolved inside the new root, after
		// the host's is gone: no host directory stays reachable
		// through the cwd (runc CVE-2024-21626).
		p.Chdir(d("workdir", "chdir", dir), dir)
	}
	p.FDs(d("fds", "dup3/close_range", ""), fds)

	if !userns {
		creds()
	}
	p.ClearCaps(d("capabilities", "capset", ""))
	// no_new_privs: a setuid or file-capability binary gains nothing.
	p.NoNewPrivs(d("credentials", "no_new_privs", ""))
	// A fresh session keyring, the sandbox user's: the caller's keys
	// (and those of other runs, which share it) are out of reach
	// under any profile that allows keyctl.
	p.NewKeyring(d("credentials", "new session keyring", ""))
	for _, r := range su.rlimits {
		p.Setrlimit(d("rlimits", "setrlimit "+strconv.Itoa(r.resource), ""), r.resource, r.cur, r.max)
	}
	// The parent-death signal: if the supervisor dies, so does the
	// sandbox (armed after the uid change, which clears it).
	p.Pdeathsig(d("credentials", "parent-death signal", ""), int(unix.SIGKILL))
	if c.namespaces.Has(ns.PID) && !c.noInit {
		// An init as pid 1: the program is pid 2, so that the kernel
		// delivers the signals it has no handler for (a pid 1 drops
		// them: abort() would not abort, a fault would loop). The
		// steps below run in the program only, the filter above all:
		// the init has none, and so must never be reachable by the
		// program (it makes itself non-dumpable).
		p.Init(d("init", "fork the program", ""))
	}
	p.UnblockSignals(d("signals", "unblock", ""))
	// The mode's steps: the filter (the last step before execve, so that
	// it judges only the program, never the setup) or the tracer's
	// seize, then the exec.
	m.steps(p, spec, execStep{desc: d("exec", "execve", cmd.Path), candidates: candidates, argv: argv, env: env})
	return spec, nil
}

// headSteps adds the steps that depend on the configuration alone (1-7 of
// the table of spec): those a Pool's prepared child has run before it
// parks.
func (c *config) headSteps(p *launch.Program, su *setup, userns bool, creds func()) {
	d := func(stage, op, path string) launch.Desc { return launch.Desc{Stage: stage, Op: op, Path: path} }
	if c.namespaces.Has(ns.Cgroup) {
		// The cgroup namespace is made now, after the parent moved the
		// child into its cgroup: rooted there, it shows nothing of the
		// host's cgroup tree.
		p.Unshare(d("cgroup", "unshare", ""), unix.CLONE_NEWCGROUP)
	}
	// A new session: no controlling terminal of the host, so TIOCSTI
	// cannot push keystrokes into the caller's shell (CVE-2017-5226).
	p.Setsid(d("credentials", "setsid", ""))
	// The caller's process state is not the program's: umask 022 (a
	// caller's 0 would make the program's files world-writable), and
	// default scheduling in its own cpuset, placed there already.
	p.Umask(d("process", "umask", ""), 0o022)
	p.ResetSched(d("process", "reset scheduling", ""))
	var plan []rootfs.Step
	if c.namespaces.Has(ns.Mount) {
		if !userns {
			// Without a user namespace the new mount namespace
			// still shares propagation with the host: cut it, so
			// no mount of ours shows up there.
			p.Mount(d("root", "mount --make-rslave", "/"), "", "/", "", unix.MS_REC|unix.MS_SLAVE, "", false)
		}
		root := c.root
		root.Hostname = c.hostname
		plan = root.Plan()
		// Bind sources are captured with the caller's own rights,
		// before the uid changes.
		n := 0
		for n < len(plan) && plan[n].Op == rootfs.OpCapture {
			n++
		}
		addRootSteps(p, plan[:n], su.trees)
		plan = plan[n:]
	}
	if userns {
		// In the user namespace the sandbox user keeps the
		// namespace's capabilities (its root is not mapped), so the
		// files of the root are made as that user.
		creds()
	}
	addRootSteps(p, plan, su.trees)
	if c.namespaces.Has(ns.UTS) {
		p.Sethostname(d("uts", "sethostname", ""), c.hostname)
	}
	if c.namespaces.Has(ns.Net) {
		p.LoopbackUp(d("net", "loopback up", "lo"))
	}
	// No capabilities in any set, bounding and ambient included (capset
	// below clears the others), and no way to regain one by exec or uid
	// change. The root is made by now, and nothing after needs a
	// capability the bounding set or the securebits take: here, a Pool's
	// child has paid their 40-odd calls before its run.
	p.CapbsetDrop(d("capabilities", "drop bounding set", ""), lastCap())
	p.Securebits(d("capabilities", "set securebits", ""), lockedSecurebits)
}

// addRootSteps turns a root plan into launcher steps.
// A capture whose tree the supervisor made already (idmapped, by target)
// takes that tree instead.
func addRootSteps(p *launch.Program, steps []rootfs.Step, trees map[string]*os.File) {
	for _, s := range steps {
		path := s.Target
		if s.Op == rootfs.OpCapture {
			path = s.Source
		}
		d := launch.Desc{Stage: s.Stage, Op: s.Op.String(), Path: path}
		switch s.Op {
		case rootfs.OpCapture:
			if t, ok := strings.CutPrefix(s.Stage, "bind "); ok && trees[t] != nil {
				p.SlotFD(d, trees[t], s.Slot)
				break
			}
			p.OpenTree(d, s.Source, s.Recursive, s.Slot, s.AttrSet, s.AttrClr)
		case rootfs.OpAttach:
			p.MoveMount(d, s.Slot, s.Target)
		case rootfs.OpMkdir:
			p.Mkdir(d, s.Target, s.Mode)
		case rootfs.OpCreate:
			p.Create(d, s.Target, s.Mode)
		case rootfs.OpSymlink:
			p.Symlink(d, s.Source, s.Target)
		case rootfs.OpWriteFile:
			p.WriteFile(d, s.Target, []byte(s.Data), s.Mode)
		case rootfs.OpMount:
			p.Mount(d, s.Source, s.Target, s.FSType, s.Flags, s.Data, s.Optional)
		case rootfs.OpSetAttr:
			p.SetAttr(d, s.Target, s.Recursive, s.AttrSet, s.AttrClr, s.Optional)
		case rootfs.OpPivot:
			p.PivotRoot(d, s.Target)
		}
	}
}

// launchPart is the part of a launch that spec builds.
type launchPart int

const (
	wholeLaunch  launchPart = iota // every step: a run in a new child
	parkedLaunch                   // every step, and a park after the configuration's
	afterPark                      // the steps after the park: a run in a prepared child
)
