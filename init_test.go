package sandbox_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gosandbox/sandbox"
	"github.com/gosandbox/sandbox/internal/testenv"
)

// With an init as pid 1, the program gets its own signals, as it would
// outside a sandbox: abort() is SIGABRT, raise(SIGTERM) and kill $$ end
// it. As pid 1 (WithoutInit) the kernel drops them.
func TestInitSignals(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		sig  syscall.Signal
	}{
		{"abort", []string{"/probe/probe", "abort"}, syscall.SIGABRT},
		{"raise SIGTERM", []string{"/probe/probe", "raise", "15"}, syscall.SIGTERM},
		{"kill $$", []string{"/bin/sh", "-c", "kill $$; sleep 5"}, syscall.SIGTERM},
		{"fault", []string{"/probe/probe", "segv"}, syscall.SIGSEGV},
		// A signal to the sandbox's init reaches the program.
		{"forwarded", []string{"/bin/sh", "-c", "kill -USR1 1; sleep 5"}, syscall.SIGUSR1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out := run(t, []sandbox.Option{sandbox.WithTimeout(10 * time.Second)}, tt.argv...)
			if res.Status != sandbox.Signaled || res.Signal != tt.sig || res.ExitCode != 128+int(tt.sig) {
				t.Errorf("status %v signal %v exit %d, want signaled %v: %s", res.Status, res.Signal, res.ExitCode, tt.sig, out)
			}
		})
	}
	// As pid 1 the program is its namespace's init: the kernel drops
	// the SIGABRT of abort(), which falls back to a fault.
	res, out := run(t, []sandbox.Option{sandbox.WithoutInit()}, "/bin/sh", "-c", "echo $$; /probe/probe raise 15; exec /probe/probe abort")
	if !strings.HasPrefix(out, "1\n") || res.Signal == syscall.SIGABRT {
		t.Errorf("WithoutInit: signal %v, output %q; want pid 1, and no SIGABRT", res.Signal, out)
	}
}

// The wait status is the program's, exactly: its exit code, its signal,
// and the core-dump flag.
func TestInitExactStatus(t *testing.T) {
	res, out := run(t, nil, "/bin/sh", "-c", "exit 42")
	wantExit(t, res, out, 42)
	res, out = run(t, nil, "/bin/sh", "-c", "cd /tmp && ulimit -c unlimited && exec /probe/probe segv")
	if res.Signal != syscall.SIGSEGV || !res.CoreDumped {
		t.Errorf("signal %v core %v, want SIGSEGV with its core dumped: %s", res.Signal, res.CoreDumped, out)
	}
	res, out = run(t, nil, "/probe/probe", "segv")
	if res.Signal != syscall.SIGSEGV || res.CoreDumped {
		t.Errorf("signal %v core %v, want SIGSEGV, no core (RLIMIT_CORE 0): %s", res.Signal, res.CoreDumped, out)
	}
}

// The init reaps orphans: none stays a zombie.
func TestInitReapsOrphans(t *testing.T) {
	const script = `(sh -c 'exit 0' &); (sh -c 'exit 0' &); sleep 0.3; cat /proc/[0-9]*/stat | awk '$3 == "Z"' | wc -l`
	res, out := run(t, nil, "/bin/sh", "-c", script)
	wantExit(t, res, out, 0)
	if strings.TrimSpace(out) != "0" {
		t.Errorf("zombies: %q", out)
	}
}

// The init has no seccomp filter, so the program must never reach it: it
// cannot ptrace it, nor read its memory or environment through /proc, even
// rootless, where both run as the same user.
func TestInitNotReachable(t *testing.T) {
	// With a deadline: an attach that worked would leave the init
	// stopped, and the run hanging.
	res, out := run(t, []sandbox.Option{sandbox.WithoutSeccomp(), sandbox.WithTimeout(10 * time.Second)}, "/bin/sh", "-c",
		"/probe/probe attach 1; cat /proc/1/environ >/dev/null 2>&1 || echo environ denied; head -c1 /proc/1/mem >/dev/null 2>&1 || echo mem denied")
	wantExit(t, res, out, 0)
	if out != fmt.Sprintf("attach %d\nenviron denied\nmem denied\n", syscall.EPERM) {
		t.Errorf("output %q, want everything denied", out)
	}
}

// A faulting strict guest is signaled SIGSEGV at once: it is no pid 1,
// whose re-injected fault the kernel would drop, looping for ever.
func TestStrictFault(t *testing.T) {
	start := time.Now()
	res, out, err := runStrict(t, "", []sandbox.Option{sandbox.WithTimeout(10 * time.Second)}, "fault")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.Signaled || res.Signal != syscall.SIGSEGV || out != "before fault\n" {
		t.Errorf("status %v signal %v output %q, want signaled SIGSEGV after one line", res.Status, res.Signal, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// Learning traces through the init, and a fault there ends the program.
func TestLearnFault(t *testing.T) {
	cmd := sandbox.Command("/probe/probe", "segv")
	_, res, err := sandbox.Learn(cmd, sandbox.WithBind(probeDir(t), "/probe"), sandbox.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.Signaled || res.Signal != syscall.SIGSEGV {
		t.Errorf("status %v signal %v, want signaled SIGSEGV", res.Status, res.Signal)
	}
}

// The init is out of the program's reach from the program's first
// instruction: it makes itself non-dumpable before it forks the program,
// so a static program whose first act is ptrace(PTRACE_SEIZE, 1) (Docker's
// profile allows ptrace) never wins, run after run, with both CPUs busy
// (then the init, woken when the program's exec lets go of its memory,
// may well run after the program's first instruction).
func TestInitUnreachableFromFirstInstruction(t *testing.T) {
	if !isAMD64() {
		t.Skip("the guest is written for amd64")
	}
	dir := filepath.Dir(testenv.BuildC(t, "seizeinit", filepath.Join("testdata", "seizeinit.c"), "-static", "-nostdlib", "-O2", "-Iexamples/strict/guest"))
	want := fmt.Sprintf("seize %04d\n", syscall.EPERM)
	// Busy CPUs: spinners until the runs are done.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 * runtime.NumCPU() {
		wg.Go(func() {
			for !stop.Load() {
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()
	var runs sync.WaitGroup
	errs := make(chan string, 200)
	for range 4 {
		runs.Go(func() {
			for range 50 {
				res, out, err := runErr(t, []sandbox.Option{sandbox.WithBind(dir, "/g"), sandbox.WithTimeout(20 * time.Second)}, "/g/seizeinit")
				if err != nil || res.ExitCode != 0 || out != want {
					errs <- fmt.Sprintf("%q %v %+v", out, err, res)
				}
			}
		})
	}
	runs.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n++; n <= 3 {
			t.Errorf("the program reached its init (want %q): %s", want, e)
		}
	}
	if n > 0 {
		t.Errorf("%d of 200 runs reached their init", n)
	}
}
