//go:build linux

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

	"github.com/gosandbox/sandbox/internal/kfile"
	"golang.org/x/sys/unix"
)

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
	// stats are the counter files a run reads, open from Acquire (where
	// the counters are baselined) to Release: a read at the run's end
	// is then one call, and memory.peak's reset (a write, 6.12+) holds
	// only for reads through the file descriptor that wrote it.
	statsMu sync.Mutex
	stats   map[string]int
}

// stat returns the contents of the group's counter file dir/file.
func (g *Group) stat(dir, file string) ([]byte, error) {
	fd, err := g.statFD(filepath.Join(dir, file), false)
	if err != nil {
		return nil, err
	}
	b, err := kfile.ReadFD(fd)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, file), err)
	}
	return b, nil
}

// statFD returns the fd of the counter file path, opened on first use,
// read-write for a file that is reset by a write (resetPeak).
func (g *Group) statFD(path string, rw bool) (int, error) {
	g.statsMu.Lock()
	defer g.statsMu.Unlock()
	if fd, ok := g.stats[path]; ok {
		return fd, nil
	}
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW
	if rw {
		flags = unix.O_RDWR | unix.O_CLOEXEC | unix.O_NOFOLLOW
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if g.stats == nil {
		g.stats = map[string]int{}
	}
	g.stats[path] = fd
	return fd, nil
}

// resetPeak resets the peak memory counter dir/file with a write through
// the fd that PeakMemory reads: on v2 (memory.peak, 6.12+) the reset holds
// for that fd alone.
func (g *Group) resetPeak(dir, file string) error {
	path := filepath.Join(dir, file)
	fd, err := g.statFD(path, true)
	if err == nil {
		_, err = unix.Pwrite(fd, []byte("0"), 0)
	}
	if err != nil {
		return fmt.Errorf("reset %s: %w", path, err)
	}
	return nil
}

// closeStats closes the counter files.
func (g *Group) closeStats() {
	g.statsMu.Lock()
	defer g.statsMu.Unlock()
	for _, fd := range g.stats {
		unix.Close(fd)
	}
	g.stats = nil
}

// statInt reads a counter file of one number.
func (g *Group) statInt(dir, file string) (uint64, error) {
	b, err := g.stat(dir, file)
	if err != nil {
		return 0, err
	}
	return parseInt(b)
}

// statKey reads "key value" from a flat-keyed counter file.
func (g *Group) statKey(dir, file, key string) (uint64, error) {
	b, err := g.stat(dir, file)
	if err != nil {
		return 0, err
	}
	return parseKey(b, filepath.Join(dir, file), key)
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
			err = join(err, write(d, "pids.max", pids))
		}
		if l.CPUs != "" || (g.written && g.set.CPUs != "") {
			err = join(err, write(d, "cpuset.cpus", l.CPUs))
		}
		// The charge left over first, then memory.peak reset (a write,
		// 6.12+; where it cannot be, PeakMemory is the peak since the
		// group was made).
		cur, _ := readInt(filepath.Join(d, "memory.current"))
		g.memBase = int64(cur)
		_ = g.resetPeak(d, "memory.peak")
		g.oomBase, _ = g.statKey(d, "memory.events", "oom_kill")
		usec, _ := g.statKey(d, "cpu.stat", "usage_usec")
		g.cpuBase = time.Duration(usec) * time.Microsecond
	case V1:
		m := g.dir("memory")
		if changed(l.Pids, g.set.Pids) {
			err = join(err, write(g.dir("pids"), "pids.max", pids))
		}
		if changed(l.CPUs, g.set.CPUs) {
			cpus := l.CPUs
			if cpus == "" {
				b, _ := os.ReadFile(filepath.Join(filepath.Dir(g.dir("cpuset")), "cpuset.cpus"))
				cpus = strings.TrimSpace(string(b))
			}
			err = join(err, write(g.dir("cpuset"), "cpuset.cpus", cpus))
		}
		// The charge left over, read before max_usage resets to the
		// usage of the moment: frees of the last run still landing
		// in between can then only lower the peak below the base.
		cur, _ := readInt(filepath.Join(m, "memory.usage_in_bytes"))
		g.memBase = int64(cur)
		err = join(err, g.resetPeak(m, "memory.max_usage_in_bytes"))
		g.oomBase, _ = g.statKey(m, "memory.oom_control", "oom_kill")
		ns, _ := g.statInt(g.dir("cpuacct"), "cpuacct.usage")
		g.cpuBase = time.Duration(ns)
	}
	g.pidsBase, _ = g.statKey(g.dir("pids"), "pids.events", "max")
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
	n, err := g.statKey(g.dir("pids"), "pids.events", "max")
	return n - g.pidsBase, err
}

// writeMemory writes the memory limit, in bytes or "max", swap allowed
// none.
func (g *Group) writeMemory(mem string) error {
	if g.h.Version == V2 {
		return join(write(g.dir(""), "memory.max", mem),
			// Swap does not count as memory: allow none.
			writeIfExists(g.dir(""), "memory.swap.max", "0"))
	}
	if mem == "max" {
		mem = "-1"
	}
	// memsw may never be below memory: lift it, set memory, then make
	// memsw equal to it (no swap).
	m := g.dir("memory")
	return join(
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
		usec, err := g.statKey(g.dir(""), "cpu.stat", "usage_usec")
		return time.Duration(usec)*time.Microsecond - g.cpuBase, err
	}
	ns, err := g.statInt(g.dir("cpuacct"), "cpuacct.usage")
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
	dir, file := g.dir("memory"), "memory.max_usage_in_bytes"
	if g.h.Version == V2 {
		dir, file = g.dir(""), "memory.peak"
	}
	n, err := g.statInt(dir, file)
	return max(int64(n)-g.memBase, 0), err
}

// OOMKills returns how many processes the kernel's OOM killer killed in
// the group since Acquire.
func (g *Group) OOMKills() (uint64, error) {
	var n uint64
	var err error
	if g.h.Version == V2 {
		n, err = g.statKey(g.dir(""), "memory.events", "oom_kill")
	} else {
		n, err = g.statKey(g.dir("memory"), "memory.oom_control", "oom_kill")
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

	g.closeStats() // a free group holds no fd
	g.h.mu.Lock()
	if g.h.closed {
		// Released after Close (a run's teardown that ended late):
		// nothing keeps a pool now.
		g.h.mu.Unlock()
		_ = g.remove()
		return
	}
	g.h.free = append(g.h.free, g)
	g.h.mu.Unlock()
}
