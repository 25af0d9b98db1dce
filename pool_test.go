package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosandbox/sandbox"
)

// newPool is a Pool with the probe bound at /probe, closed at the end of
// the test.
func newPool(t *testing.T, size int, opts ...sandbox.Option) *sandbox.Pool {
	t.Helper()
	pl, err := sandbox.NewPool(size, append([]sandbox.Option{sandbox.WithBind(probeDir(t), "/probe")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	return pl
}

func poolRun(t *testing.T, pl *sandbox.Pool, argv ...string) (*sandbox.Result, string) {
	t.Helper()
	var out strings.Builder
	cmd := sandbox.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	res, err := pl.Run(cmd)
	if err != nil {
		t.Fatalf("Run(%q): %v", argv, err)
	}
	return res, out.String()
}

// A prepared sandbox is used once: each run of a Pool starts in a fresh
// pid namespace (the shell is pid 2, after its init: in a used one the
// numbers would have moved on), with a fresh /tmp without the file the
// last run left, no process the last run left behind, no System V queue
// of the last run's (a fresh IPC namespace), and the configured hostname.
// Every run waits for a prepared child, so that all are warm runs.
// (Namespace inode numbers cannot tell: the kernel reuses a freed one.)
func TestPoolRunsShareNothing(t *testing.T) {
	pl := newPool(t, 1, sandbox.WithHostname("pooled"))
	const script = `echo "pid: $$"
echo "tmp: $(ls -A /tmp)"
echo "host: $(hostname)"
echo "procs: $(cat /proc/[0-9]*/comm | sort | tr '\n' ' ')"
echo "queues: $(ipcs -q | grep -c '^0x')"
echo left > /tmp/left; (sleep 1000 &); ipcmk -Q >/dev/null; hostname changed 2>/dev/null; true`
	const runs = 6
	for i := range runs {
		waitReady(t, pl)
		res, out := poolRun(t, pl, "/bin/sh", "-c", script)
		wantExit(t, res, out, 0)
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(line, ":")
			got[k] = strings.TrimSpace(v)
		}
		want := map[string]string{"pid": "2", "tmp": "", "host": "pooled", "queues": "0"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("run %d: %s %q, want %q (output %q)", i, k, got[k], v, out)
			}
		}
		if strings.Contains(got["procs"], "sleep") {
			t.Errorf("run %d: a process of an earlier run is here: %q", i, got["procs"])
		}
	}
	if st := pl.Stats(); st.Warm != runs || st.Cold != 0 {
		t.Errorf("%+v, want %d warm runs", st, runs)
	}
}

// A Pool's run returns before the kernel has torn its sandbox down, but
// only once no process of it is left: one the program left behind holds
// a lock on a file of a read-write bind, and not the output pipes, and the
// lock is free when Run returns (a process's locks go with its end).
func TestPoolRunEndsEveryProcess(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	lock := filepath.Join(dir, "lock")
	if err := os.WriteFile(lock, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(lock, 0o666) // whatever the umask
	pl := newPool(t, 1, sandbox.WithBindRW(dir, "/w"))
	const script = `rm -f /w/started
(flock -x 9 && echo >/w/started && exec sleep 100) 9>/w/lock </dev/null >/dev/null 2>&1 &
while [ ! -e /w/started ]; do sleep 0.01; done`
	for i := range 10 {
		waitReady(t, pl)
		res, out := poolRun(t, pl, "/bin/sh", "-c", script)
		wantExit(t, res, out, 0)
		f, err := os.Open(lock)
		if err != nil {
			t.Fatal(err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close()
		if err != nil {
			t.Fatalf("run %d: the lock of the process the program left is held after Run: %v", i, err)
		}
	}
	if st := pl.Stats(); st.Warm != 10 {
		t.Errorf("%+v, want 10 warm runs", st)
	}
}

// waitReady waits until pl has a prepared child ready.
func waitReady(t *testing.T, pl *sandbox.Pool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sandbox.PoolReady(pl) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no prepared child after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Runs of a Pool from many goroutines at once each get a sandbox (a
// prepared one, or a new one when none is ready); Close waits for a run
// in progress; after Close runs fail with ErrPoolClosed.
func TestPoolConcurrentAndClose(t *testing.T) {
	pl := newPool(t, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			var out strings.Builder
			cmd := sandbox.Command("/bin/sh", "-c", fmt.Sprintf("echo %d", i))
			cmd.Stdout = &out
			res, err := pl.Run(cmd)
			switch {
			case err != nil:
				errs <- err
			case res.ExitCode != 0 || out.String() != fmt.Sprintf("%d\n", i):
				errs <- fmt.Errorf("run %d: %+v %q", i, res, out.String())
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := pl.Stats(); st.Warm+st.Cold != 16 || st.Warm == 0 {
		t.Errorf("%+v: want 16 runs, some warm", st)
	}
	// Close waits for a run in progress to end.
	p, err := pl.Start(context.Background(), sandbox.Command("/bin/sleep", "0.3"))
	if err != nil {
		t.Fatal(err)
	}
	pl.Close()
	ended := make(chan struct{})
	go func() { p.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(100 * time.Millisecond):
		t.Error("Close returned before the run it had started ended")
	}
	if _, err := pl.Run(sandbox.Command("/bin/true")); !errors.Is(err, sandbox.ErrPoolClosed) {
		t.Errorf("after Close: %v, want ErrPoolClosed", err)
	}
	if _, err := pl.RunContext(context.Background(), sandbox.Command("/bin/true")); !errors.Is(err, sandbox.ErrPoolClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// A Pool runs under its options: limits, the policy and its verdicts, and
// a bad configuration fails at NewPool.
func TestPoolOptions(t *testing.T) {
	pl := newPool(t, 1, sandbox.WithDockerDefaultKill(), sandbox.WithMemory(64<<20), sandbox.WithBestEffort())
	res, out := poolRun(t, pl, "/probe/probe", "sys", "mount")
	if res.Status != sandbox.SeccompKilled || len(res.Violations) != 1 || res.Violations[0].Syscall != "mount" {
		t.Errorf("status %v violations %+v: %s", res.Status, res.Violations, out)
	}
	if m := mechanism(res, "memory"); m == "" {
		t.Errorf("memory limit not enforced: %+v", res.Enforced)
	}
	for _, size := range []int{0, -1, sandbox.MaxPoolSize + 1, 1 << 40} {
		if _, err := sandbox.NewPool(size); !errors.As(err, new(*sandbox.ConfigError)) {
			t.Errorf("NewPool(%d): %v, want a ConfigError", size, err)
		}
	}
	var ce *sandbox.ConfigError
	if _, err := sandbox.NewPool(1, sandbox.WithBind("/no/such/dir", "/x")); !errors.As(err, &ce) {
		t.Errorf("NewPool with a missing bind: %v, want a ConfigError", err)
	}
}

// Every mode works from a prepared child: strict mode (its tracer attaches
// in the program's own steps, after the park), a timeout that kills, and
// a read-write bind (captured when the child was prepared) whose contents
// the run sees as they are at the run.
func TestPoolModes(t *testing.T) {
	strict := newPool(t, 1, sandbox.WithStrict(), sandbox.WithBind(guests(t), "/g"))
	for _, tc := range []struct {
		guest  string
		status sandbox.Status
	}{{"getpid", sandbox.SeccompKilled}, {"exitgroup", sandbox.SeccompKilled}} {
		waitReady(t, strict)
		res, out := poolRun(t, strict, "/g/"+tc.guest)
		if res.Status != tc.status || res.SeccompMode != sandbox.Strict || len(res.Violations) != 1 {
			t.Errorf("%s: status %v mode %v violations %+v: %s", tc.guest, res.Status, res.SeccompMode, res.Violations, out)
		}
	}

	timed := newPool(t, 1, sandbox.WithTimeout(200*time.Millisecond))
	waitReady(t, timed)
	if res, out := poolRun(t, timed, "/bin/sleep", "10"); res.Status != sandbox.Timeout {
		t.Errorf("timeout: status %v: %s", res.Status, out)
	}

	dir := t.TempDir()
	bound := newPool(t, 1, sandbox.WithBindRW(dir, "/w"))
	waitReady(t, bound)
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("after the prepare\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, out := poolRun(t, bound, "/bin/sh", "-c", "cat /w/in && echo out > /w/out")
	wantExit(t, res, out, 0)
	if out != "after the prepare\n" {
		t.Errorf("the bind's contents at the run: %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(b) != "out\n" {
		t.Errorf("the run's file in the bind: %q %v", b, err)
	}
	if strict.Stats().Warm != 2 || timed.Stats().Warm != 1 || bound.Stats().Warm != 1 {
		t.Error("cold runs where prepared children were ready")
	}
}

// A prepared child that ended while it waited (killed from outside) is
// not used: the run takes the next, or makes its own.
func TestPoolChildKilledWhileParked(t *testing.T) {
	pl := newPool(t, 1)
	waitReady(t, pl)
	out, err := exec.Command("pgrep", "-P", fmt.Sprint(os.Getpid()), "-f", "gosandbox-zygote").Output()
	if err != nil {
		t.Fatalf("pgrep: %v", err)
	}
	// The parked child is the supervisor's child (CLONE_PARENT), a fork
	// of the zygote, so with the zygote's command line: the one in a
	// user namespace of its own.
	self, _ := os.Readlink("/proc/self/ns/user")
	killed := 0
	for _, p := range strings.Fields(string(out)) {
		pid, _ := strconv.Atoi(p)
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid)); err == nil && ns != self {
			syscall.Kill(pid, syscall.SIGKILL)
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d parked children, want 1 (processes %q)", killed, out)
	}
	time.Sleep(50 * time.Millisecond)
	res, o := poolRun(t, pl, "/bin/echo", "fine")
	wantExit(t, res, o, 0)
	if o != "fine\n" {
		t.Errorf("output %q", o)
	}
	if st := pl.Stats(); st.Warm != 0 || st.Cold != 1 {
		t.Errorf("%+v: want the killed child skipped, one cold run", st)
	}
}
