//go:build linux

// Package cgroup gives each sandbox a cgroup of its own for memory, pids,
// CPU accounting and a CPU set, on cgroup v2 or v1, from a pool of prepared
// groups.
//
// Making and removing cgroup directories costs more than a whole launch
// (about 8 ms for three v1 controllers here), so a group is made once and
// reused: when a run ends its group is checked empty, its limits reset and
// its counters reset or baselined, and only then handed to the next run. A
// group is never shared by two live runs.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Version is the cgroup hierarchy in use.
type Version int

// The versions.
const (
	V1 Version = 1
	V2 Version = 2
)

// String returns "cgroup v1" or "cgroup v2".
func (v Version) String() string { return "cgroup v" + strconv.Itoa(int(v)) }

// Limits are what a group enforces. Zero means no limit.
type Limits struct {
	Memory int64  // bytes, swap excluded (none allowed)
	Pids   int64  // processes and threads
	CPUs   string // a CPU list such as "0-1,3"
}

// ErrUnavailable is wrapped by every error about a missing or unusable
// cgroup hierarchy: the caller may fall back to rlimits.
var ErrUnavailable = errors.New("no usable cgroup")

// Hierarchy is where groups are made: one directory per controller on v1,
// one directory on v2.
type Hierarchy struct {
	Version Version
	// Dirs maps a controller ("memory", "pids", "cpuacct", "cpuset"; on
	// v2 "" for all) to the directory under which groups are made.
	Dirs map[string]string

	mu   sync.Mutex
	free []*Group
	next int
	// made are the base directories Prepare made (not found there), for
	// Close to remove; closed says Close ran, so that the next Acquire
	// prepares again.
	made   []string
	closed bool
}

// controllersV1 are the v1 controllers a group needs.
var controllersV1 = []string{"memory", "pids", "cpuacct", "cpuset"}

// Detect finds the cgroup hierarchy of this process from mountinfo and
// cgroup (the files of /proc/self, or others in tests), preferring v2 when
// it has the memory, pids and cpu controllers. The groups live in a
// directory "gosandbox" under the process's own cgroup, so that the
// caller's own limits still apply to them.
func Detect(mountinfo, procCgroup string) (*Hierarchy, error) {
	mi, err := os.ReadFile(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	pc, err := os.ReadFile(procCgroup)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	own := map[string]string{} // controller (or "" for v2) -> own path
	for _, line := range strings.Split(strings.TrimSpace(string(pc)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			own[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	var v2mount string
	v1mounts := map[string]string{}
	for _, line := range strings.Split(string(mi), "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+3 || len(fields) < 5 {
			continue
		}
		mountPoint, fstype, super := fields[4], fields[sep+1], fields[sep+3]
		switch fstype {
		case "cgroup2":
			if v2mount == "" || mountPoint == "/sys/fs/cgroup" {
				v2mount = mountPoint
			}
		case "cgroup":
			for _, opt := range strings.Split(super, ",") {
				if _, ok := own[opt]; ok {
					v1mounts[opt] = mountPoint
				}
			}
		}
	}
	if v2mount != "" {
		dir := filepath.Join(v2mount, own[""])
		if ctrl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers")); err == nil &&
			hasAll(strings.Fields(string(ctrl)), "memory", "pids", "cpu") {
			return &Hierarchy{Version: V2, Dirs: map[string]string{"": filepath.Join(dir, "gosandbox")}}, nil
		}
	}
	h := &Hierarchy{Version: V1, Dirs: map[string]string{}}
	for _, c := range controllersV1 {
		m, ok := v1mounts[c]
		if !ok {
			return nil, fmt.Errorf("%w: the %s controller is mounted neither on cgroup v2 with memory, pids and cpu, nor on v1", ErrUnavailable, c)
		}
		h.Dirs[c] = filepath.Join(m, own[c], "gosandbox")
	}
	return h, nil
}

func hasAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// Prepare makes the base directories (and on v2 enables the controllers
// for them), and removes the empty groups that dead supervisors left. It
// tells a read-only or undelegated hierarchy apart, with what to do.
func (h *Hierarchy) Prepare() error {
	for c, dir := range h.Dirs {
		switch err := os.Mkdir(dir, 0o755); {
		case err == nil:
			h.mu.Lock()
			h.made = append(h.made, dir)
			h.mu.Unlock()
		case !errors.Is(err, os.ErrExist):
			return fmt.Errorf("%w: %s: cannot make %s: %w (%s)", ErrUnavailable, h.Version, dir, err, hint(err))
		}
		if err := unix.Access(dir, unix.W_OK); err != nil {
			err = &os.PathError{Op: "access", Path: dir, Err: err}
			return fmt.Errorf("%w: %s: cannot make groups in %s: %w (%s)", ErrUnavailable, h.Version, dir, err, hint(err))
		}
		if h.Version == V1 && c == "cpuset" {
			// A v1 cpuset group is unusable until it has CPUs and
			// memory nodes: take the parent's.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if err := inherit(dir, f); err != nil {
					return err
				}
			}
		}
	}
	if h.Version == V2 {
		dir := h.Dirs[""]
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := write(d, "cgroup.subtree_control", "+memory +pids +cpu +cpuset"); err != nil {
				// cpuset may be missing: try without it.
				if err2 := write(d, "cgroup.subtree_control", "+memory +pids +cpu"); err2 != nil {
					return fmt.Errorf("%w: %s: cannot delegate controllers to %s: %w (%s)", ErrUnavailable, h.Version, d, err2, hint(err2))
				}
			}
		}
	}
	h.removeStale()
	return nil
}

func hint(err error) string {
	switch {
	case errors.Is(err, os.ErrPermission):
		return "run as root, or in a cgroup delegated to this user (systemd-run --user -p Delegate=yes), or ask for best effort to fall back to rlimits"
	case strings.Contains(err.Error(), "read-only file system"):
		return "the cgroup file system is mounted read-only here, as in an unprivileged container"
	}
	return "check that the cgroup file system is mounted and writable"
}

func inherit(dir, file string) error {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), file))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if cur, _ := os.ReadFile(filepath.Join(dir, file)); strings.TrimSpace(string(cur)) != "" {
		return nil
	}
	return write(dir, file, strings.TrimSpace(string(b)))
}

// removeStale removes groups named after supervisors that are gone.
func (h *Hierarchy) removeStale() {
	for _, dir := range h.Dirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			pid, _, ok := strings.Cut(e.Name(), "-")
			if n, err := strconv.Atoi(pid); !e.IsDir() || !ok || err != nil || n == os.Getpid() || processExists(n) {
				continue
			}
			_ = os.Remove(filepath.Join(dir, e.Name())) // fails, harmlessly, if not empty
		}
	}
}

func processExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// Group is one sandbox's cgroup.
type Group struct {
	h     *Hierarchy
	name  string
	paths map[string]string // controller -> directory
	dirf  *os.File          // on v2, the directory, for CLONE_INTO_CGROUP
	// Counters that cannot be reset, read when the run began.
	oomBase  uint64
	pidsBase uint64
	cpuBase  time.Duration
	// memBase is the memory still charged when the run began (page cache
	// of earlier runs, which the kernel reclaims before it would OOM).
	memBase int64
	// set is the limits written last: unchanged ones are not written
	// again.
	set     Limits
	written bool
}

// Acquire returns a group with limits set and counters at zero, taken from
// the pool or made.
func (h *Hierarchy) Acquire(l Limits) (*Group, error) {
	h.mu.Lock()
	if h.closed {
		h.closed = false
		h.mu.Unlock()
		if err := h.Prepare(); err != nil {
			return nil, err
		}
		h.mu.Lock()
	}
	var g *Group
	if n := len(h.free); n > 0 {
		g, h.free = h.free[n-1], h.free[:n-1]
	} else {
		h.next++
		g = &Group{h: h, name: strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(h.next), paths: map[string]string{}}
	}
	h.mu.Unlock()
	if len(g.paths) == 0 {
		for c, dir := range h.Dirs {
			p := filepath.Join(dir, g.name)
			err := os.Mkdir(p, 0o755)
			if errors.Is(err, os.ErrNotExist) {
				// Another process's Close removed the base
				// directory after our Prepare: make it again.
				if err = h.Prepare(); err == nil {
					err = os.Mkdir(p, 0o755)
				}
			}
			if err != nil && !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("%w: %s: mkdir %s: %w (%s)", ErrUnavailable, h.Version, p, err, hint(err))
			}
			g.paths[c] = p
			if h.Version == V1 && c == "cpuset" {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					if err := inherit(p, f); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if h.Version == V2 && g.dirf == nil {
		f, err := os.Open(g.paths[""])
		if err != nil {
			_ = g.remove()
			return nil, fmt.Errorf("%w: %s: open %s: %w", ErrUnavailable, h.Version, g.paths[""], err)
		}
		g.dirf = f
	}
	if err := g.setLimits(l); err != nil {
		_ = g.remove()
		return nil, err
	}
	return g, nil
}

// Dir is, on v2, the group's directory, to make a child in it directly
// (clone3 with CLONE_INTO_CGROUP); nil on v1.
func (g *Group) Dir() *os.File { return g.dirf }

// Version is the group's cgroup version.
func (g *Group) Version() Version { return g.h.Version }

func (g *Group) dir(c string) string {
	if g.h.Version == V2 {
		return g.paths[""]
	}
	return g.paths[c]
}

// setLimits writes the limits that changed and zeroes (or baselines) the
// counters.
func (g *Group) setLimits(l Limits) error {
	mem, pids := "max", "max"
	if l.Memory > 0 {
		mem = strconv.FormatInt(l.Memory, 10)
	}
	if l.Pids > 0 {
		pids = strconv.FormatInt(l.Pids, 10)
	}
	changed := func(a, b any) bool { return !g.written || a != b }
	var err error
	if changed(l.Memory, g.set.Memory) {
		err = g.writeMemory(mem)
	}
	switch g.h.Version {
	case V2:
		d := g.dir("")
		if changed(l.Pids, g.set.Pids) {
			err = errors.Join(err, write(d, "pids.max", pids))
		}
		if l.CPUs != "" || (g.written && g.set.CPUs != "") {
			err = errors.Join(err, write(d, "cpuset.cpus", l.CPUs))
		}
		// The charge left over first, then memory.peak reset (a write,
		// 6.12+; where it cannot be, PeakMemory is the peak since the
		// group was made).
		cur, _ := readInt(filepath.Join(d, "memory.current"))
		g.memBase = int64(cur)
		err = errors.Join(err, writeIfExists(d, "memory.peak", "0"))
		g.oomBase, _ = readKey(filepath.Join(d, "memory.events"), "oom_kill")
		usec, _ := readKey(filepath.Join(d, "cpu.stat"), "usage_usec")
		g.cpuBase = time.Duration(usec) * time.Microsecond
	case V1:
		m := g.dir("memory")
		if changed(l.Pids, g.set.Pids) {
			err = errors.Join(err, write(g.dir("pids"), "pids.max", pids))
		}
		if changed(l.CPUs, g.set.CPUs) {
			cpus := l.CPUs
			if cpus == "" {
				b, _ := os.ReadFile(filepath.Join(filepath.Dir(g.dir("cpuset")), "cpuset.cpus"))
				cpus = strings.TrimSpace(string(b))
			}
			err = errors.Join(err, write(g.dir("cpuset"), "cpuset.cpus", cpus))
		}
		// The charge left over, read before max_usage resets to the
		// usage of the moment: frees of the last run still landing
		// in between can then only lower the peak below the base.
		cur, _ := readInt(filepath.Join(m, "memory.usage_in_bytes"))
		g.memBase = int64(cur)
		err = errors.Join(err, write(m, "memory.max_usage_in_bytes", "0"))
		g.oomBase, _ = readKey(filepath.Join(m, "memory.oom_control"), "oom_kill")
		ns, _ := readInt(filepath.Join(g.dir("cpuacct"), "cpuacct.usage"))
		g.cpuBase = time.Duration(ns)
	}
	g.pidsBase, _ = readKey(filepath.Join(g.dir("pids"), "pids.events"), "max")
	if err != nil {
		g.written = false
		return fmt.Errorf("%s: set limits of %s: %w", g.h.Version, g.name, err)
	}
	g.set, g.written = l, true
	return nil
}

// PidsLimitHits returns how many forks the pids limit refused in the group
// since Acquire (pids.events "max").
func (g *Group) PidsLimitHits() (uint64, error) {
	n, err := readKey(filepath.Join(g.dir("pids"), "pids.events"), "max")
	return n - g.pidsBase, err
}

// writeMemory writes the memory limit, in bytes or "max", swap allowed
// none.
func (g *Group) writeMemory(mem string) error {
	if g.h.Version == V2 {
		return errors.Join(write(g.dir(""), "memory.max", mem),
			// Swap does not count as memory: allow none.
			writeIfExists(g.dir(""), "memory.swap.max", "0"))
	}
	if mem == "max" {
		mem = "-1"
	}
	// memsw may never be below memory: lift it, set memory, then make
	// memsw equal to it (no swap).
	m := g.dir("memory")
	return errors.Join(
		writeIfExists(m, "memory.memsw.limit_in_bytes", "-1"),
		write(m, "memory.limit_in_bytes", mem),
		writeIfExists(m, "memory.memsw.limit_in_bytes", mem))
}

// Add moves pid into the group.
func (g *Group) Add(pid int) error {
	for _, f := range g.procsFiles() {
		if err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("%s: add %d to %s: %w", g.h.Version, pid, f, err)
		}
	}
	return nil
}

// CPU returns the CPU time (user and system) of every process of the group
// since Acquire.
func (g *Group) CPU() (time.Duration, error) {
	if g.h.Version == V2 {
		usec, err := readKey(filepath.Join(g.dir(""), "cpu.stat"), "usage_usec")
		return time.Duration(usec)*time.Microsecond - g.cpuBase, err
	}
	ns, err := readInt(filepath.Join(g.dir("cpuacct"), "cpuacct.usage"))
	return time.Duration(ns) - g.cpuBase, err
}

// procsFiles returns the cgroup.procs files of the controllers a run needs:
// on v1, cpuset only when it limits the CPUs and pids only when it limits
// the pids (each v1 move costs the kernel an RCU grace period or so).
func (g *Group) procsFiles() []string {
	var files []string
	for c, p := range g.paths {
		if (c == "cpuset" && g.set.CPUs == "") || (c == "pids" && g.set.Pids == 0) {
			continue
		}
		files = append(files, filepath.Join(p, "cgroup.procs"))
	}
	return files
}

// PeakMemory returns the peak memory use of the group during the run,
// tmpfs pages included, in bytes: the peak less what was still charged
// when the run began.
func (g *Group) PeakMemory() (int64, error) {
	file := filepath.Join(g.dir("memory"), "memory.max_usage_in_bytes")
	if g.h.Version == V2 {
		file = filepath.Join(g.dir(""), "memory.peak")
	}
	n, err := readInt(file)
	return max(int64(n)-g.memBase, 0), err
}

// OOMKills returns how many processes the kernel's OOM killer killed in
// the group since Acquire.
func (g *Group) OOMKills() (uint64, error) {
	var n uint64
	var err error
	if g.h.Version == V2 {
		n, err = readKey(filepath.Join(g.dir(""), "memory.events"), "oom_kill")
	} else {
		n, err = readKey(filepath.Join(g.dir("memory"), "memory.oom_control"), "oom_kill")
	}
	return n - g.oomBase, err
}

// Procs returns the pids in the group.
func (g *Group) Procs() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(g.dir("memory"), "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// Kill kills every process of the group: cgroup.kill on v2, and on v1 (or
// without cgroup.kill) SIGKILL to each pid listed until none is left.
func (g *Group) Kill() error {
	if g.h.Version == V2 {
		if err := write(g.dir(""), "cgroup.kill", "1"); err == nil {
			return g.waitEmpty(time.Second)
		}
	}
	deadline := time.Now().Add(time.Second)
	for {
		pids, err := g.Procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d processes left in %s", g.h.Version, len(pids), g.name)
		}
		for _, p := range pids {
			_ = syscallKill(p)
		}
		time.Sleep(time.Millisecond)
	}
}

func (g *Group) waitEmpty(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		pids, err := g.Procs()
		if err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d processes left in %s", g.h.Version, len(pids), g.name)
		}
		time.Sleep(time.Millisecond)
	}
}

// reclaimAbove is the charge left in a released group past which it is
// reclaimed: small leftovers (page cache) are left to the kernel, which
// reclaims them before it would OOM; large ones would skew the next run's
// peak.
const reclaimAbove = 4 << 20

// Release gives the group back: it must be empty (the caller killed and
// reaped its processes); if it is not, the group is killed again, and
// removed rather than reused if that fails.
func (g *Group) Release() {
	if pids, err := g.Procs(); err != nil || len(pids) > 0 {
		if g.Kill() != nil {
			_ = g.remove() // a group with a process in it stays: Prepare retries
			return
		}
	}
	if g.h.Version == V1 {
		if cur, err := readInt(filepath.Join(g.dir("memory"), "memory.usage_in_bytes")); err == nil && cur > reclaimAbove {
			_ = write(g.dir("memory"), "memory.force_empty", "0")
		}
	} else if cur, err := readInt(filepath.Join(g.dir(""), "memory.current")); err == nil && cur > reclaimAbove {
		_ = writeIfExists(g.dir(""), "memory.reclaim", strconv.FormatUint(cur, 10))
	}

	g.h.mu.Lock()
	g.h.free = append(g.h.free, g)
	g.h.mu.Unlock()
}

// FreeDirs returns the directories of the pool's free groups.
func (h *Hierarchy) FreeDirs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var dirs []string
	for _, g := range h.free {
		for _, p := range g.paths {
			dirs = append(dirs, p)
		}
	}
	return dirs
}

// Close removes every free group of the pool, then the base directories
// that Prepare made, where nothing else is left in them. A group in use at
// the time stays until a later Prepare, in this process or another, finds
// its supervisor gone and removes it. A later Acquire prepares again.
func (h *Hierarchy) Close() error {
	h.mu.Lock()
	free, made := h.free, h.made
	h.free, h.made, h.closed = nil, nil, true
	h.mu.Unlock()
	var err error
	for _, g := range free {
		err = errors.Join(err, g.remove())
	}
	for _, dir := range made {
		// Busy or not empty: another supervisor's groups, or a run
		// still going, live there. Theirs to remove.
		if e := os.Remove(dir); e != nil && !errors.Is(e, unix.EBUSY) && !errors.Is(e, unix.ENOTEMPTY) && !errors.Is(e, os.ErrNotExist) {
			err = errors.Join(err, e)
		}
	}
	return err
}

func (g *Group) remove() error {
	var err error
	if g.dirf != nil {
		g.dirf.Close()
		g.dirf = nil
	}
	for _, p := range g.paths {
		if e := os.Remove(p); e != nil && !errors.Is(e, os.ErrNotExist) {
			err = errors.Join(err, e)
		}
	}
	g.paths = map[string]string{}
	return err
}

func write(dir, file, value string) error {
	err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0)
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}

func writeIfExists(dir, file, value string) error {
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		return nil
	}
	return write(dir, file, value)
}

func readInt(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// readKey reads "key value" from a flat-keyed file such as memory.events.
func readKey(file, key string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %q", file, key)
}
