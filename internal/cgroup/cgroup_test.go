//go:build linux

package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosandbox/sandbox/internal/testenv"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func put(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeV2 is a cgroup v2 hierarchy on a fake cgroupfs, prepared; base is
// its directory.
func fakeV2(t *testing.T) (h *Hierarchy, base string) {
	t.Helper()
	root := t.TempDir()
	mnt := filepath.Join(root, "sys/fs/cgroup")
	put(t, filepath.Join(root, "mountinfo"), "30 23 0:27 / "+mnt+" rw,nosuid - cgroup2 cgroup2 rw\n")
	put(t, filepath.Join(root, "cgroup"), "0::/user.slice\n")
	put(t, filepath.Join(mnt, "user.slice/cgroup.controllers"), "cpuset cpu io memory pids\n")
	put(t, filepath.Join(mnt, "user.slice/cgroup.subtree_control"), "")
	h, err := Detect(filepath.Join(root, "mountinfo"), filepath.Join(root, "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	base = filepath.Join(mnt, "user.slice/gosandbox")
	if h.Version != V2 || h.Dirs[""] != base {
		t.Fatalf("Detect: %v %v", h.Version, h.Dirs)
	}
	if err := h.Prepare(); err != nil {
		t.Fatal(err)
	}
	return h, base
}

// cgroup v2 against a fake cgroupfs: the files the kernel would have.
func TestV2Fake(t *testing.T) {
	h, base := fakeV2(t)
	if got := read(t, filepath.Join(base, "cgroup.subtree_control")); !strings.Contains(got, "+memory") || !strings.Contains(got, "+pids") {
		t.Errorf("subtree_control %q", got)
	}
	// The group the kernel would make, with counters already moved.
	g1 := filepath.Join(base, strconv.Itoa(os.Getpid())+"-1")
	for f, v := range map[string]string{"memory.swap.max": "max", "memory.events": "low 0\noom 2\noom_kill 3\n",
		"cpu.stat": "usage_usec 5000\nuser_usec 4000\n", "memory.peak": "9", "cgroup.procs": "", "cgroup.kill": ""} {
		put(t, filepath.Join(g1, f), v)
	}
	g, err := h.Acquire(Limits{Memory: 64 << 20, Pids: 32, CPUs: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if d := g.Dir(); d == nil || d.Name() != g1 {
		t.Errorf("Dir() = %v, want the open directory %s", d, g1)
	}
	for f, want := range map[string]string{"memory.max": "67108864", "memory.swap.max": "0", "pids.max": "32", "cpuset.cpus": "1", "memory.peak": "0"} {
		if got := read(t, filepath.Join(g1, f)); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	put(t, filepath.Join(g1, "memory.events"), "low 0\noom 3\noom_kill 4\n")
	put(t, filepath.Join(g1, "cpu.stat"), "usage_usec 7500\n")
	put(t, filepath.Join(g1, "memory.peak"), "999")
	if n, err := g.OOMKills(); err != nil || n != 1 {
		t.Errorf("OOMKills = %d, %v; want 1 since Acquire", n, err)
	}
	if d, err := g.CPU(); err != nil || d != 2500*time.Microsecond {
		t.Errorf("CPU = %v, %v; want 2.5ms since Acquire", d, err)
	}
	if p, err := g.PeakMemory(); err != nil || p != 999 {
		t.Errorf("PeakMemory = %d, %v", p, err)
	}
	if err := g.Kill(); err != nil || read(t, filepath.Join(g1, "cgroup.kill")) != "1" {
		t.Errorf("Kill: %v", err)
	}
	g.Release()
	again, err := h.Acquire(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if again != g {
		t.Error("a released group was not reused")
	}
	if got := read(t, filepath.Join(g1, "memory.max")); got != "max" {
		t.Errorf("limits not reset: memory.max = %q", got)
	}
}

// A group released after its hierarchy's Close (a run's teardown that
// ended late) is removed, not kept in a pool that no Close will empty; it
// holds no fd either way.
func TestReleaseAfterClose(t *testing.T) {
	h, base := fakeV2(t)
	dir := filepath.Join(base, strconv.Itoa(os.Getpid())+"-1")
	for _, f := range []string{"memory.events", "cpu.stat", "memory.peak", "pids.events", "cgroup.procs"} {
		put(t, filepath.Join(dir, f), "")
	}
	g, err := h.Acquire(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.stats) == 0 {
		t.Error("no counter file open after Acquire")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	g.Release()
	// (A fake directory keeps its files, so rmdir cannot show it.)
	if len(g.paths) != 0 || g.stats != nil || len(h.free) != 0 {
		t.Errorf("paths %v, stats %v, free %d: want the group removed", g.paths, g.stats, len(h.free))
	}
}

// A read-only or undelegated hierarchy is told apart, with what to do.
func TestPrepareErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{os.ErrPermission, "delegated"},
		{&os.PathError{Op: "mkdir", Path: "/x", Err: errorString("read-only file system")}, "read-only"},
	} {
		if got := hint(tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("hint(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	// A base that cannot be made: the error names it.
	file := filepath.Join(t.TempDir(), "file")
	put(t, file, "")
	h := &Hierarchy{Version: V2, Dirs: map[string]string{"": filepath.Join(file, "gosandbox")}}
	if err := h.Prepare(); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Prepare: %v", err)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestDetectNone(t *testing.T) {
	root := t.TempDir()
	put(t, filepath.Join(root, "mountinfo"), "22 27 0:21 / /proc rw - proc proc rw\n")
	put(t, filepath.Join(root, "cgroup"), "0::/\n")
	if _, err := Detect(filepath.Join(root, "mountinfo"), filepath.Join(root, "cgroup")); err == nil {
		t.Error("Detect found a hierarchy in a machine with none")
	}
}

// The real hierarchy of this machine (v1 here, v2 where the host has it).
func TestReal(t *testing.T) {
	testenv.RequireRoot(t)
	h, err := Detect("/proc/self/mountinfo", "/proc/self/cgroup")
	if err != nil {
		testenv.Missing(t, "no cgroup hierarchy: %v", err)
	}
	for _, d := range h.Dirs {
		os.Remove(d) // where empty, so that Prepare makes it (and Close must remove it)
	}
	if err := h.Prepare(); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	g, err := h.Acquire(Limits{Memory: 32 << 20, Pids: 8})
	if err != nil {
		t.Fatal(err)
	}
	// It starts outside the group and joins it while it waits on stdin;
	// what it allocates after that (a 1 MB string) is charged to it (v1
	// does not move earlier charges).
	cmd := exec.Command("sh", "-c", `read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; x=$(head -c 1000000 /dev/zero | tr '\0' a); echo ${#x}`)
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	cmd.Wait()
	cpu, err := g.CPU()
	if err != nil || cpu <= 0 {
		t.Errorf("CPU = %v, %v", cpu, err)
	}
	peak, err := g.PeakMemory()
	if err != nil || peak < 1_000_000 {
		t.Errorf("PeakMemory = %d, %v; want at least the 1 MB string", peak, err)
	}
	if n, err := g.OOMKills(); err != nil || n != 0 {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
	if pids, err := g.Procs(); err != nil || len(pids) != 0 {
		t.Errorf("procs after exit: %v %v", pids, err)
	}
	g.Release()
	g2, err := h.Acquire(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if g2 != g {
		t.Error("not reused")
	}
	if cpu, _ := g2.CPU(); cpu != 0 {
		t.Errorf("CPU not reset: %v", cpu)
	}
	if peak, _ := g2.PeakMemory(); peak != 0 {
		t.Errorf("peak not reset: %d", peak)
	}
	g2.Release()
	paths := g2.paths
	made := h.made
	h.Close()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after Close", p)
		}
	}
	// The base directories Prepare made go too, and the next Acquire
	// makes them again.
	for _, d := range made {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("base directory %s left after Close", d)
		}
	}
	g3, err := h.Acquire(Limits{Pids: 4})
	if err != nil {
		t.Fatalf("Acquire after Close: %v", err)
	}
	g3.Release()
	if err := h.Close(); err != nil {
		t.Error(err)
	}
}

// Joined errors print on one line and each still matches.
func TestJoin(t *testing.T) {
	a, b := errors.New("a"), fs.ErrPermission
	err := join(nil, a, join(b, nil))
	if err.Error() != "a; permission denied" || !errors.Is(err, a) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("join: %q", err)
	}
	if join(nil, nil) != nil || join(a) != a {
		t.Error("join of none or one")
	}
}
