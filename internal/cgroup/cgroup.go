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

	"github.com/gosandbox/sandbox/internal/kfile"
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
		err = join(err, g.remove())
	}
	for _, dir := range made {
		// Busy or not empty: another supervisor's groups, or a run
		// still going, live there. Theirs to remove.
		if e := os.Remove(dir); e != nil && !errors.Is(e, unix.EBUSY) && !errors.Is(e, unix.ENOTEMPTY) && !errors.Is(e, os.ErrNotExist) {
			err = join(err, e)
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
	g.closeStats()
	for _, p := range g.paths {
		if e := os.Remove(p); e != nil && !errors.Is(e, os.ErrNotExist) {
			err = join(err, e)
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
	b, err := kfile.Read(file)
	if err != nil {
		return 0, err
	}
	return parseInt(b)
}

func parseInt(b []byte) (uint64, error) {
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// parseKey returns the value of "key value" in b, the contents of file, a
// flat-keyed file such as memory.events.
func parseKey(b []byte, file, key string) (uint64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %q", file, key)
}

// join is errors.Join on one line: the errors that are not nil, "; "
// between them, each matched by errors.Is and errors.As.
func join(errs ...error) error {
	var j joined
	for _, err := range errs {
		if e, ok := err.(joined); ok {
			j = append(j, e...)
		} else if err != nil {
			j = append(j, err)
		}
	}
	switch len(j) {
	case 0:
		return nil
	case 1:
		return j[0]
	}
	return j
}

type joined []error

func (j joined) Error() string {
	s := make([]string, len(j))
	for i, err := range j {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (j joined) Unwrap() []error { return j }
