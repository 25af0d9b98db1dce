package sandbox_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosandbox/sandbox"
)

type seen struct {
	Syscall, Action, Source string
}

func violationsOf(res *sandbox.Result) []seen {
	var out []seen
	for _, v := range res.Violations {
		out = append(out, seen{v.Syscall, string(v.Action), string(v.Source)})
	}
	return out
}

// docker-default denies mount: the program gets EPERM, and the report
// names the call with its arguments.
func TestViolationDockerDefault(t *testing.T) {
	res, out := run(t, nil, "/probe/probe", "sys", "getpid", "mount", "mkdir")
	wantExit(t, res, out, 0)
	if got := probeErrnos(t, out)["mount"]; got != syscall.EPERM {
		t.Errorf("mount: errno %v, want EPERM", got)
	}
	want := []seen{{"mount", "errno", "user-notification"}}
	if diff := cmp.Diff(want, violationsOf(res)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	if res.ViolationCount != 1 || res.Violations[0].Number != 165 && isAMD64() || res.Violations[0].Arch != "x86_64" && isAMD64() {
		t.Errorf("violation %+v count %d", res.Violations[0], res.ViolationCount)
	}
	if res.Violations[0].Args[2] == 0 { // the fstype pointer
		t.Errorf("no arguments recorded: %+v", res.Violations[0])
	}
}

// Under the seed's profile chown(2) and mount are named, mkdir is not.
func TestViolationSeed(t *testing.T) {
	res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(seedProfile))}, "/bin/sh", "-c",
		": > /tmp/f; /probe/probe chown /tmp/f; /probe/probe sys mkdir mount")
	wantExit(t, res, out, 0)
	want := []seen{{"chown", "errno", "user-notification"}, {"mount", "errno", "user-notification"}}
	if diff := cmp.Diff(want, violationsOf(res)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

// A rule's errnoRet reaches the program unchanged, and so does the
// profile's defaultErrnoRet.
func TestViolationErrnoRet(t *testing.T) {
	profile := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
		{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
		{"names":["mount"],"action":"SCMP_ACT_ERRNO","errnoRet":95}]}`
	res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(profile))}, "/probe/probe", "sys", "mkdir", "mount", "getpid")
	wantExit(t, res, out, 0)
	want := map[string]syscall.Errno{"mkdir": syscall.EACCES, "mount": syscall.EOPNOTSUPP, "getpid": 0}
	if diff := cmp.Diff(want, probeErrnos(t, out)); diff != "" {
		t.Errorf("errnos (-want +got):\n%s", diff)
	}
	if res.ViolationCount != 2 {
		t.Errorf("violations %+v", res.Violations)
	}
}

// The kill variant reports kills as the kernel's (SIGSYS, exit 159) and
// names the call, root and rootless: the supervisor carries out the kill
// once the call's notification has named it.
func TestViolationKill(t *testing.T) {
	res, out := run(t, []sandbox.Option{sandbox.WithDockerDefaultKill()}, "/probe/probe", "sys", "getpid", "mount")
	if res.Status != sandbox.SeccompKilled || res.Signal != syscall.SIGSYS || res.ExitCode != 159 {
		t.Fatalf("status %v signal %v exit %d: %s", res.Status, res.Signal, res.ExitCode, out)
	}
	want := []seen{{"mount", "kill", "user-notification"}}
	if diff := cmp.Diff(want, violationsOf(res)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	// A kill of a process that is not the program: it dies, the program
	// goes on, and the kill is named.
	res, out = run(t, []sandbox.Option{sandbox.WithDockerDefaultKill()}, "/bin/sh", "-c", "/probe/probe sys mount; echo after $?")
	wantExit(t, res, out, 0)
	// SIGKILL, not the kernel's SIGSYS: the supervisor kills.
	if !strings.HasSuffix(out, "after 137\n") {
		t.Errorf("output %q, want the shell to go on after its child's kill", out)
	}
	if diff := cmp.Diff(want, violationsOf(res)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

// Every kill is named, even with many at once: 64 concurrent runs, each
// killed for one call.
func TestViolationKillConcurrent(t *testing.T) {
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, out, err := runErr(t, []sandbox.Option{sandbox.WithDockerDefaultKill()}, "/probe/probe", "sys", "mount")
			switch {
			case err != nil:
				errs <- err.Error()
			case res.Status != sandbox.SeccompKilled || res.Signal != syscall.SIGSYS:
				errs <- fmt.Sprintf("status %v signal %v: %s", res.Status, res.Signal, out)
			case len(res.Violations) != 1 || res.Violations[0].Syscall != "mount" || res.Violations[0].Action != "kill":
				errs <- fmt.Sprintf("violations %+v", res.Violations)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// A program never denied anything has an empty list, and the listener's
// goroutine and fd are gone when Run returns.
func TestViolationNoneAndNoLeak(t *testing.T) {
	res, out := run(t, nil, "/bin/sh", "-c", "echo fine")
	wantExit(t, res, out, 0)
	if len(res.Violations) != 0 || res.ViolationCount != 0 {
		t.Errorf("violations %+v", res.Violations)
	}
	fds, gs := openFDs(t), runtime.NumGoroutine()
	for range 20 {
		run(t, nil, "/probe/probe", "sys", "mount", "umount2")
	}
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > gs && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > gs {
		t.Errorf("%d goroutines before, %d after", gs, g)
	}
	if f := openFDs(t); f > fds {
		t.Errorf("%d fds before, %d after", fds, f)
	}
}

// A flood of denied calls is paced: past a burst, the notifier answers at
// most 10,000 a second, so the flooding program waits (blocked in its
// calls) rather than costing the caller a CPU. Every denial is still
// answered with its errno, and counted.
func TestViolationFloodPaced(t *testing.T) {
	const n = 16000 // 15,000 past the burst: 1.5 s at the least
	start := time.Now()
	res, out := run(t, nil, "/probe/probe", "flood", fmt.Sprint(n))
	took := time.Since(start)
	wantExit(t, res, out, 0)
	if out != fmt.Sprintf("flood %d\n", syscall.EPERM) || res.ViolationCount != n {
		t.Errorf("output %q, %d violations; want EPERM and %d", out, res.ViolationCount, n)
	}
	if took < 1400*time.Millisecond {
		t.Errorf("%d denials in %v: not paced", n, took)
	}
}
