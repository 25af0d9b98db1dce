package sandbox_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gosandbox/sandbox"
	"github.com/gosandbox/sandbox/internal/testenv"
	"golang.org/x/sys/unix"
)

// Each test here tries an attack from ../shared/threats.md for real.

// Threat 1: /proc/PID/exe of a host process is never reachable for write.
func TestThreatProcExe(t *testing.T) {
	res, out := run(t, nil, "/bin/sh", "-c", `n=0; for f in /proc/[0-9]*/exe; do (echo x >> "$f") 2>/dev/null && n=$((n+1)); done; echo $n written`)
	wantExit(t, res, out, 0)
	if out != "0 written\n" {
		t.Errorf("got %q", out)
	}
}

// Threat 4: no TIOCSTI into the caller's terminal: the program is in a new
// session with no controlling terminal.
func TestThreatTIOCSTI(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testenv.Missing(t, "no pty: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	var out bytes.Buffer
	cmd := sandbox.Command("/probe/probe", "tiocsti")
	cmd.Stdin = pts
	cmd.Stdout = &out
	res, err := sandbox.Run(cmd, sandbox.WithBind(testenv.Probe(t, "testdata"), "/probe"))
	if err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, out.String(), 0)
	if got := probeErrnos(t, out.String())["tiocsti"]; got != syscall.EPERM && got != syscall.EIO {
		t.Errorf("TIOCSTI: errno %v, want EPERM", got)
	}
}

// Threat 16: kill(-1) inside reaches no host process, not even one of the
// host uid the sandbox maps to.
func TestThreatKillAll(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv := testenv.RequireTool(t, "setpriv")
	victim := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "30")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer victim.Process.Kill()
	res, out := run(t, nil, "/bin/sh", "-c", "kill -9 -1")
	if res.Status != sandbox.Exited && res.Signal != syscall.SIGKILL {
		t.Errorf("status %v signal %v: %s", res.Status, res.Signal, out)
	}
	time.Sleep(50 * time.Millisecond)
	if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the host process of the sandbox's host uid died: %v", err)
	}
}

// Threat 22: a kill action kills the whole process, not just the thread
// that made the call.
func TestThreatKillThread(t *testing.T) {
	res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_KILL_THREAD"}]}`))},
		"/probe/probe", "thread-mount")
	if res.Status != sandbox.SeccompKilled || res.Signal != syscall.SIGSYS {
		t.Errorf("status %v signal %v output %q, want the whole process killed by SIGSYS", res.Status, res.Signal, out)
	}
}

// Threat 23: a setuid-root binary gains nothing (nosuid, no_new_privs).
func TestThreatSetuid(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	b, err := os.ReadFile(filepath.Join(testenv.Probe(t, "testdata"), "probe"))
	if err != nil {
		t.Fatal(err)
	}
	suid := filepath.Join(dir, "suid")
	if err := os.WriteFile(suid, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(suid); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("no setuid bit on the copy: %v %v", fi.Mode(), err)
	}
	res, out := run(t, []sandbox.Option{sandbox.WithBind(dir, "/s")}, "/s/suid", "ids")
	wantExit(t, res, out, 0)
	if out != "65534 65534 65534 65534\n" {
		t.Errorf("ids after exec of a setuid binary: %q", out)
	}
}

// Threat 21 and 19: nothing crosses from one run to the next through
// /dev/shm or /tmp, and the host's /tmp is not there.
func TestThreatCrossRun(t *testing.T) {
	hostFile := filepath.Join(os.TempDir(), "gosandbox-host-secret")
	if err := os.WriteFile(hostFile, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(hostFile)
	res, out := run(t, nil, "/bin/sh", "-c", "echo a > /dev/shm/x && echo b > /tmp/x && echo written")
	wantExit(t, res, out, 0)
	res, out = run(t, nil, "/bin/sh", "-c", "ls -A /dev/shm /tmp; test -e /tmp/gosandbox-host-secret || echo no host tmp")
	wantExit(t, res, out, 0)
	if out != "/dev/shm:\n\n/tmp:\nno host tmp\n" {
		t.Errorf("second run sees:\n%s", out)
	}
}
