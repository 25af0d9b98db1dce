package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosandbox/sandbox"
	"github.com/gosandbox/sandbox/internal/testenv"
)

// haveCgroup says whether this run can make cgroups (root here; rootless
// it falls back to rlimits).
func haveCgroup() bool { return os.Geteuid() == 0 }

func limited(t *testing.T, opts []sandbox.Option, script string) (*sandbox.Result, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := sandbox.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Stdout, cmd.Stderr = &out, &out
	res, err := sandbox.Run(cmd, opts...)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res, out.String()
}

func mechanism(res *sandbox.Result, limit string) string {
	for _, e := range res.Enforced {
		if e.Limit == limit {
			return string(e.Mechanism)
		}
	}
	return ""
}

// The kill comes at the deadline. What is measured is the supervisor's
// own part: from the moment a timer of the same length, armed just before
// Run in this process, fires, to Run's return. Load delays both timers
// alike (a loaded 2-core machine fired them 400 ms late), so it cancels
// out; what is left is the kill, the reaping and the collectors.
func TestTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	fired := make(chan time.Time, 1)
	start := time.Now()
	time.AfterFunc(timeout, func() { fired <- time.Now() })
	res, out := limited(t, []sandbox.Option{sandbox.WithTimeout(timeout)}, "while :; do :; done")
	returned := time.Now()
	if res.Status != sandbox.Timeout || res.Signal != syscall.SIGKILL || res.ExitCode != 137 {
		t.Fatalf("status %v signal %v exit %d, want timeout SIGKILL 137: %s", res.Status, res.Signal, res.ExitCode, out)
	}
	if took := returned.Sub(start); took < timeout {
		t.Errorf("Run returned after %v, before the timeout of %v", took, timeout)
	}
	if late := returned.Sub(<-fired); late > 100*time.Millisecond {
		t.Errorf("Run returned %v after a reference timer of the same length fired, more than 100ms", late)
	}
	if mechanism(res, "timeout") != "supervisor" {
		t.Errorf("enforced: %+v", res.Enforced)
	}
}

func TestCPUTime(t *testing.T) {
	const limit = 300 * time.Millisecond
	opts := []sandbox.Option{sandbox.WithCPUTime(limit), sandbox.WithTimeout(10 * time.Second), sandbox.WithBestEffort()}
	res, out := limited(t, opts, "while :; do :; done")
	if res.Status != sandbox.CPUTimeExceeded || res.Signal != syscall.SIGKILL {
		t.Fatalf("status %v signal %v, want cpu_time_exceeded SIGKILL: %s", res.Status, res.Signal, out)
	}
	if haveCgroup() {
		// Killed within a few milliseconds of the limit.
		if res.CPUTime < limit || res.CPUTime > limit+50*time.Millisecond {
			t.Errorf("CPUTime %v for a limit of %v", res.CPUTime, limit)
		}
		if m := mechanism(res, "cpu-time"); !strings.HasPrefix(m, "cgroup") {
			t.Errorf("cpu-time enforced by %q", m)
		}
	} else if m := mechanism(res, "cpu-time"); m != "rlimit" {
		t.Errorf("rootless cpu-time enforced by %q, want rlimit", m)
	}
}

// Touching 512 MiB under a 64 MiB limit: the kernel's OOM killer, and the
// verdict from its event.
func TestMemory(t *testing.T) {
	opts := []sandbox.Option{sandbox.WithMemory(64 << 20), sandbox.WithTimeout(20 * time.Second), sandbox.WithBestEffort()}
	res, out := limited(t, opts, `exec python3 -c 'b = b"x" * (512 << 20); print(len(b))'`)
	if !haveCgroup() {
		// RLIMIT_AS: the allocation fails, no OOM kill, no verdict.
		if mechanism(res, "memory") != "rlimit" || !strings.Contains(out, "MemoryError") || res.Status != sandbox.Exited {
			t.Errorf("rootless: status %v enforced %+v output %q", res.Status, res.Enforced, out)
		}
		return
	}
	if res.Status != sandbox.MemoryExceeded || res.Signal != syscall.SIGKILL {
		t.Fatalf("status %v signal %v, want memory_exceeded SIGKILL: %s", res.Status, res.Signal, out)
	}
	if res.PeakMemory < 60<<20 || res.PeakMemory > 70<<20 {
		t.Errorf("PeakMemory %d, want about 64 MiB", res.PeakMemory)
	}
	// tmpfs pages count: filling /tmp past the limit is a memory kill too.
	res, out = limited(t, []sandbox.Option{sandbox.WithMemory(32 << 20), sandbox.WithTmpfs("/tmp", 256<<20)},
		"head -c 100000000 /dev/zero > /tmp/big; echo survived")
	if res.Status != sandbox.MemoryExceeded {
		t.Errorf("filling a tmpfs past the memory limit: status %v: %s", res.Status, out)
	}
}

// A fork bomb under 32 pids is contained; the host stays responsive and
// nothing of it survives.
func TestForkBomb(t *testing.T) {
	opts := []sandbox.Option{sandbox.WithPids(32), sandbox.WithTimeout(1500 * time.Millisecond), sandbox.WithBestEffort()}
	done := make(chan *sandbox.Result, 1)
	go func() {
		res, _ := limited(t, opts, "b() { b | b & }; b; sleep 100")
		done <- res
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Error(err)
	}
	// Generous: the suite's other packages load both CPUs too; an
	// uncontained bomb stalls the host for far longer, or makes fork fail.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the host took %v to run /bin/true during the bomb", d)
	}
	res := <-done
	if res.Status != sandbox.Timeout {
		t.Errorf("status %v, want timeout", res.Status)
	}
	if haveCgroup() {
		if m := mechanism(res, "pids"); !strings.HasPrefix(m, "cgroup") {
			t.Errorf("pids enforced by %q", m)
		}
		if n := countUID(65534); n != 0 {
			t.Errorf("%d processes of the sandbox's host uid survive", n)
		}
	}
}

// countUID counts the host's processes of uid that descend from this test
// process (other test binaries run sandboxes too).
func countUID(uid int) int {
	n := 0
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/status")
		if err != nil || !strings.Contains(string(b), fmt.Sprintf("\nUid:\t%d\t", uid)) {
			continue
		}
		if pid, err := strconv.Atoi(d.Name()); err == nil && descends(pid, os.Getpid()) {
			n++
		}
	}
	return n
}

// descends reports whether pid's chain of parents reaches ancestor.
func descends(pid, ancestor int) bool {
	for pid > 1 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			return false
		}
		_, rest, _ := strings.Cut(string(b), "\nPPid:\t")
		ppid, _ := strconv.Atoi(strings.Fields(rest + " 0")[0])
		if ppid == ancestor {
			return true
		}
		pid = ppid
	}
	return false
}

func TestOutputLimit(t *testing.T) {
	for _, toFile := range []bool{false, true} {
		t.Run(fmt.Sprintf("file=%v", toFile), func(t *testing.T) {
			cmd := sandbox.Command("/bin/sh", "-c", "head -c 104857600 /dev/zero; echo err >&2; sleep 10")
			var n int64
			if toFile {
				f, err := os.Create(t.TempDir() + "/out")
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				cmd.Stdout, cmd.Stderr = f, f
				defer func() {
					fi, _ := f.Stat()
					n = fi.Size()
				}()
			} else {
				w := &countWriter{}
				cmd.Stdout, cmd.Stderr = w, w
				defer func() { n = w.n }()
			}
			res, err := sandbox.Run(cmd, sandbox.WithOutputLimit(1<<20), sandbox.WithTimeout(20*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != sandbox.OutputExceeded || !res.OutputTruncated || res.Signal != syscall.SIGKILL {
				t.Errorf("status %v truncated %v signal %v, want output_exceeded", res.Status, res.OutputTruncated, res.Signal)
			}
			t.Cleanup(func() {
				if n > 1<<20 {
					t.Errorf("%d bytes delivered past a 1 MiB limit", n)
				}
			})
		})
	}
}

type countWriter struct {
	mu sync.Mutex
	n  int64
}

func (w *countWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.n += int64(len(b))
	w.mu.Unlock()
	return len(b), nil
}

func TestTmpfsFull(t *testing.T) {
	res, out := limited(t, nil, "head -c 100000000 /dev/zero > /tmp/f; echo $?")
	if res.Status != sandbox.Exited || !strings.Contains(out, "No space left on device") {
		t.Errorf("status %v output %q, want ENOSPC from the 64 MiB /tmp", res.Status, out)
	}
	res, out = limited(t, []sandbox.Option{sandbox.WithTmpfsInodes("/tmp", 16)}, "for i in $(seq 1 40); do : > /tmp/f$i || exit 3; done")
	if res.ExitCode == 0 || !strings.Contains(out, "No space left on device") {
		t.Errorf("inodes: exit %d output %q", res.ExitCode, out)
	}
}

func TestFileSizeAndOpenFiles(t *testing.T) {
	res, out := limited(t, []sandbox.Option{sandbox.WithFileSize(1 << 20)}, "trap '' XFSZ; head -c 2000000 /dev/zero > /tmp/f; wc -c < /tmp/f")
	if !strings.Contains(out, "1048576") || !strings.Contains(out, "File too large") {
		t.Errorf("file size: status %v output %q", res.Status, out)
	}
	res, out = limited(t, []sandbox.Option{sandbox.WithOpenFiles(10)}, "ulimit -n")
	if out != "10\n" {
		t.Errorf("open files: %q", out)
	}
	if mechanism(res, "open-files") != "rlimit" {
		t.Errorf("enforced %+v", res.Enforced)
	}
}

func TestCPUs(t *testing.T) {
	if runtime.NumCPU() < 2 {
		testenv.Missing(t, "needs 2 CPUs")
	}
	res, out := limited(t, []sandbox.Option{sandbox.WithCPUs("1"), sandbox.WithBestEffort()}, "grep Cpus_allowed_list /proc/self/status")
	if !haveCgroup() {
		// No stand-in: best effort runs it unpinned, and says so.
		if m := mechanism(res, "cpus"); m != "none" {
			t.Errorf("rootless cpus enforced by %q, want none", m)
		}
		return
	}
	if out != "Cpus_allowed_list:\t1\n" || !strings.HasPrefix(mechanism(res, "cpus"), "cgroup") {
		t.Errorf("cpus: %q (enforced %+v)", out, res.Enforced)
	}
}

// Without a usable cgroup and without best effort, a limit that needs one
// fails, saying what to do.
func TestLimitUnsupported(t *testing.T) {
	if haveCgroup() {
		t.Skip("this user can make cgroups; the rootless leg runs this")
	}
	_, err := sandbox.Run(sandbox.Command("/bin/true"), sandbox.WithMemory(64<<20))
	var ue *sandbox.UnsupportedError
	if !errors.As(err, &ue) || !errors.Is(err, sandbox.ErrUnsupported) || !strings.Contains(err.Error(), "best effort") {
		t.Errorf("Run: %v", err)
	}
}

// The verdict is right when limits race, and when the caller's writer
// fails; nothing of the supervisor leaks.
func TestMixedVerdictsNoLeaks(t *testing.T) {
	// The zygote, its socket and goroutines are the process's, made at
	// the first run: not a run's leftovers.
	limited(t, nil, "true")
	fdsBefore := openFDs(t)
	goBefore := runtime.NumGoroutine()
	type job struct {
		script string
		opts   []sandbox.Option
		stdout io.Writer
		want   sandbox.Status
	}
	cg := haveCgroup()
	jobs := []job{
		{script: "exit 3", want: sandbox.Exited},
		{script: "while :; do :; done", opts: []sandbox.Option{sandbox.WithTimeout(300 * time.Millisecond)}, want: sandbox.Timeout},
		{script: "head -c 3000000 /dev/zero", opts: []sandbox.Option{sandbox.WithOutputLimit(1 << 20)}, want: sandbox.OutputExceeded},
		// The program is no pid 1: a signal it sends itself ends it.
		{script: "sh -c 'kill -9 $$'; kill -KILL $$", want: sandbox.Signaled},
		{script: "exec unshare -U true", opts: []sandbox.Option{sandbox.WithDockerDefaultKill()}, want: sandbox.SeccompKilled},
		// A double-forked setsid daemon that ignores signals, and a
		// stopped process: all die with the sandbox.
		{script: "(setsid sh -c 'trap \"\" TERM HUP; sleep 100' &); sh -c 'kill -STOP $$' & sleep 100", opts: []sandbox.Option{sandbox.WithTimeout(300 * time.Millisecond)}, want: sandbox.Timeout},
		{script: "head -c 1000000 /dev/zero", stdout: failingWriter{}, want: sandbox.Exited},
	}
	if cg {
		jobs = append(jobs,
			job{script: "while :; do :; done", opts: []sandbox.Option{sandbox.WithCPUTime(200 * time.Millisecond)}, want: sandbox.CPUTimeExceeded},
			job{script: `exec python3 -c 'b = b"x" * (256 << 20)'`, opts: []sandbox.Option{sandbox.WithMemory(32 << 20)}, want: sandbox.MemoryExceeded},
		)
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		j := jobs[i%len(jobs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := sandbox.Command("/bin/sh", "-c", j.script)
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			cmd.Stdout = j.stdout
			res, err := sandbox.Run(cmd, j.opts...)
			switch {
			case err != nil && j.want == sandbox.Timeout && errors.Is(err, context.DeadlineExceeded):
				// The deadline covers setup too: with 200
				// launches at once on 2 cores, it may run out
				// before the exec.
			case err != nil:
				errs <- fmt.Errorf("%q: %w", j.script, err)
			case res.Status != j.want:
				errs <- fmt.Errorf("%q: status %v (signal %v), want %v", j.script, res.Status, res.Signal, j.want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Goroutines finish their exit a moment after they signal it.
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > goBefore && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > goBefore {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", goBefore, g, buf[:runtime.Stack(buf, true)])
	}
	if after := openFDs(t); after > fdsBefore {
		t.Errorf("%d fds open before, %d after", fdsBefore, after)
	}
	if cg {
		if n := countUID(65534); n != 0 {
			t.Errorf("%d processes of the sandbox's host uid survive", n)
		}
		// The pool's groups are all empty, and go when released.
		dirs := sandbox.PooledCgroups()
		for _, d := range dirs {
			if b, err := os.ReadFile(d + "/cgroup.procs"); err != nil || len(b) != 0 {
				t.Errorf("%s: procs %q %v", d, b, err)
			}
		}
		if err := sandbox.Shutdown(); err != nil {
			t.Error(err)
		}
		for _, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				t.Errorf("%s left after Shutdown", d)
			}
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("the caller's writer failed") }

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// A profile that makes the start impossible (it denies what the launcher
// calls after installing it) is refused at once, saying what it denies:
// it never hangs the caller.
func TestImpossibleProfiles(t *testing.T) {
	if !isAMD64() {
		t.Skip("the numbers are amd64's")
	}
	tests := []struct {
		name, profile, want string
	}{
		{"block all", `{"defaultAction":"SCMP_ACT_ERRNO"}`, "execve (59, errno), write (1, errno), exit_group (231, errno)"},
		{"defaultErrnoRet, no allow rule", `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38}`, "execve (59, errno), write (1, errno), exit_group (231, errno)"},
		// A kill inside the launcher is named: execve, 59.
		{"kill all", `{"defaultAction":"SCMP_ACT_KILL"}`, "execve (59, kill_thread), write (1, kill_thread), exit_group (231, kill_thread)"},
		{"kill execve", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_KILL_PROCESS"}]}`, "execve (59, kill)"},
		{"exit_group but no write", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["execve","exit_group"],"action":"SCMP_ACT_ALLOW"}]}`, "write (1, errno)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := sandbox.Run(sandbox.Command("/bin/true"), sandbox.WithProfile([]byte(tt.profile)))
			var ce *sandbox.ConfigError
			var ld *sandbox.LaunchDeniedError
			if !errors.As(err, &ce) || !errors.As(err, &ld) || !strings.HasSuffix(err.Error(), "the profile denies what the launch needs: "+tt.want) {
				t.Fatalf("Run: %v, want a ConfigError naming %q", err, tt.want)
			}
			if c := ld.Calls[0]; c.Source != sandbox.SourceProfile || c.Arch != "x86_64" {
				t.Errorf("first call %+v", c)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// No value of any limit takes down the caller. A memory limit below what a
// launch needs once killed the calling process: the OOM killer chose the
// launcher, which then shared the caller's address space (the kernel kills
// every process that shares the victim's). The launcher is now a fork of
// the zygote. Each run here must end in an error or a Result, and this
// process must live on to check it (were it killed, the whole package
// would fail).
func TestTinyLimitsSpareTheCaller(t *testing.T) {
	tests := []struct {
		name string
		opt  sandbox.Option
		want sandbox.Status // with a cgroup; 0: any
	}{
		{"memory 1", sandbox.WithMemory(1), sandbox.MemoryExceeded},
		{"memory 4K", sandbox.WithMemory(4 << 10), sandbox.MemoryExceeded},
		{"memory 64K", sandbox.WithMemory(64 << 10), sandbox.MemoryExceeded},
		{"memory 128K", sandbox.WithMemory(128 << 10), sandbox.MemoryExceeded},
		{"pids 1", sandbox.WithPids(1), 0},
		{"cpu-time 1ns", sandbox.WithCPUTime(1), sandbox.CPUTimeExceeded},
		{"output 1", sandbox.WithOutputLimit(1), sandbox.OutputExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			cmd := sandbox.Command("/bin/sh", "-c", "echo hello; x=$(head -c 200000 /dev/zero | tr '\\0' a); echo ${#x}")
			cmd.Stdout = &out
			res, err := sandbox.Run(cmd, tt.opt, sandbox.WithTimeout(20*time.Second), sandbox.WithBestEffort())
			switch {
			case err != nil:
				t.Logf("error: %v", err)
			case res == nil:
				t.Fatal("neither an error nor a Result")
			case tt.want != 0 && haveCgroup() && res.Status != tt.want:
				t.Errorf("status %v (signal %v), want %v; output %q", res.Status, res.Signal, tt.want, out.String())
			default:
				t.Logf("status %v exit %d", res.Status, res.ExitCode)
			}
		})
	}
	// And the caller still runs sandboxes.
	res, out := limited(t, nil, "echo alive")
	wantExit(t, res, out, 0)
}

// When the pids limit refuses a fork, the Result says so; the program's
// own status is unchanged.
func TestPidsLimitReached(t *testing.T) {
	if !haveCgroup() {
		t.Skip("rootless: RLIMIT_NPROC stands in for pids, and has no event to read; the root leg runs it")
	}
	res, out := limited(t, []sandbox.Option{sandbox.WithPids(4)}, "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done 2>/dev/null; echo done")
	if res.Status != sandbox.Exited || !res.PidsLimitReached {
		t.Errorf("status %v, PidsLimitReached %v; want exited and true: %s", res.Status, res.PidsLimitReached, out)
	}
	res, out = limited(t, []sandbox.Option{sandbox.WithPids(4)}, "sleep 0 & wait; echo done")
	if res.Status != sandbox.Exited || res.PidsLimitReached {
		t.Errorf("within the limit: status %v, PidsLimitReached %v: %s", res.Status, res.PidsLimitReached, out)
	}
}

// The cgroup measures CPU time and peak memory whenever one can be had,
// with no limit asked for.
func TestAccountingWithoutLimits(t *testing.T) {
	if !haveCgroup() {
		t.Skip("rootless: no cgroup can be had here; the root leg runs it")
	}
	res, out := limited(t, nil, `exec python3 -c 'b = b"x" * (48 << 20); print(len(b))'`)
	wantExit(t, res, out, 0)
	if res.PeakMemory < 48<<20 {
		t.Errorf("PeakMemory %d after touching 48 MiB", res.PeakMemory)
	}
	if res.CPUTime <= 0 {
		t.Errorf("CPUTime %v", res.CPUTime)
	}
	if len(res.Enforced) != 0 {
		t.Errorf("Enforced %+v with no limit asked for", res.Enforced)
	}
}

// A writer that is not a file gets at most DefaultOutputLimit bytes with
// no output limit asked for: the caller's memory does not grow with the
// program's output.
func TestDefaultOutputLimit(t *testing.T) {
	var n countingWriter
	cmd := sandbox.Command("/bin/sh", "-c", fmt.Sprintf("head -c %d /dev/zero", sandbox.DefaultOutputLimit+(1<<20)))
	cmd.Stdout = &n
	res, err := sandbox.Run(cmd, sandbox.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.OutputExceeded || int64(n) != sandbox.DefaultOutputLimit {
		t.Errorf("status %v, %d bytes delivered; want output_exceeded and %d", res.Status, n, sandbox.DefaultOutputLimit)
	}
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// A stdin reader that blocks (a connection nobody writes to) leaves no
// goroutine behind once Run returns, and is left usable.
func TestStdinReaderNoLeak(t *testing.T) {
	limited(t, nil, "true") // the zygote's goroutines first
	before := runtime.NumGoroutine()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cmd := sandbox.Command("/bin/true")
	cmd.Stdin = a
	if _, err := sandbox.Run(cmd); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines before, %d after", before, g)
	}
	go b.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := a.Read(buf); err != nil {
		t.Errorf("the caller's reader after Run: %v", err)
	}
}

// CPUs outside the caller's are bad input: a ConfigError that names them,
// never excused by WithBestEffort.
func TestCPUsOutsideCaller(t *testing.T) {
	_, err := sandbox.Run(sandbox.Command("/bin/true"), sandbox.WithCPUs("0,1000-1001"), sandbox.WithBestEffort())
	var ce *sandbox.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "1000,1001") || errors.Is(err, sandbox.ErrUnsupported) {
		t.Errorf("Run: %v, want a ConfigError naming 1000,1001", err)
	}
}

// A launch too large for the zygote (a 70 MiB environment) is refused
// with E2BIG, before anything is sent; the next run is unharmed.
func TestHugeLaunchRefused(t *testing.T) {
	cmd := sandbox.Command("/bin/true")
	cmd.Env = []string{"BIG=" + strings.Repeat("x", 70<<20)}
	if _, err := sandbox.Run(cmd); !errors.Is(err, syscall.E2BIG) {
		t.Errorf("Run: %v, want E2BIG", err)
	}
	res, out := limited(t, nil, "true")
	wantExit(t, res, out, 0)
}

// The default output bound counts only what reaches a writer that is not
// a file: output discarded (a nil Stderr) does not end the program.
func TestDefaultOutputLimitCountsOnlyWriters(t *testing.T) {
	var out bytes.Buffer
	cmd := sandbox.Command("/bin/sh", "-c", fmt.Sprintf("head -c %d /dev/zero >&2; echo done", sandbox.DefaultOutputLimit+(1<<20)))
	cmd.Stdout = &out
	res, err := sandbox.Run(cmd, sandbox.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.Exited || out.String() != "done\n" {
		t.Errorf("status %v, output %q; want exited, with stderr discarded uncounted", res.Status, out.String())
	}
}

// Shutdown releases all the process-wide state: the zygote ends, and so
// do the audit reader's and the notifier's goroutines and fds; a run after
// it starts what it needs again.
func TestShutdown(t *testing.T) {
	runTrue(sandbox.WithProfile([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_KILL_THREAD"}]}`)))
	zygotes := func() int {
		out, _ := exec.Command("pgrep", "-f", "-P", fmt.Sprint(os.Getpid()), "gosandbox-zygote").Output()
		return len(strings.Fields(string(out)))
	}
	if zygotes() != 1 {
		t.Fatalf("%d zygotes before Shutdown, want 1", zygotes())
	}
	fds := openFDs(t)
	if err := sandbox.Shutdown(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for zygotes() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := zygotes(); n != 0 {
		t.Errorf("%d zygotes after Shutdown", n)
	}
	if after := openFDs(t); after >= fds {
		t.Errorf("%d fds open before Shutdown, %d after: the zygote's socket (and the audit reader's, as root) should be closed", fds, after)
	}
	if err := runTrue(); err != nil {
		t.Errorf("a run after Shutdown: %v", err)
	}
}
