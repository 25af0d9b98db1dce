package sandbox_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/gosandbox/sandbox"
	"github.com/gosandbox/sandbox/internal/testenv"
	"github.com/gosandbox/sandbox/ns"
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

// Threat 4: no TIOCSTI into the caller's terminal. A helper process whose
// controlling terminal is a pty runs the sandbox with that terminal as
// stdin: the helper itself can push a byte into it, the sandboxed program,
// in a session of its own, cannot.
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
	helper := exec.Command(os.Args[0], "-test.run=^TestTIOCSTIHelper$")
	helper.Env = append(os.Environ(), "GOSANDBOX_TIOCSTI_PROBE="+testenv.Probe(t, "testdata"))
	helper.Stdin, helper.Stdout, helper.Stderr = pts, &out, &out
	helper.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := helper.Run(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	switch got := out.String(); {
	case strings.Contains(got, "own 5\n"): // EIO
		testenv.Missing(t, "TIOCSTI is off on this kernel (dev.tty.legacy_tiocsti=0): nothing to push with")
	case !strings.Contains(got, "own 0\n"):
		t.Fatalf("the helper could not push into its own terminal: %s", got)
	case !strings.Contains(got, "tiocsti 1\n"): // EPERM
		t.Errorf("the sandboxed program pushed into the caller's terminal (want EPERM):\n%s", got)
	}
}

// TestTIOCSTIHelper is TestThreatTIOCSTI's helper process; run alone it
// does nothing.
func TestTIOCSTIHelper(t *testing.T) {
	probe := os.Getenv("GOSANDBOX_TIOCSTI_PROBE")
	if probe == "" {
		return // not the helper
	}
	c := byte('\n')
	_, _, e := unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	fmt.Printf("own %d\n", int(e))
	cmd := sandbox.Command("/probe/probe", "tiocsti")
	cmd.Stdin, cmd.Stdout = os.Stdin, os.Stdout
	if _, err := sandbox.Run(cmd, sandbox.WithBind(probe, "/probe")); err != nil {
		fmt.Println(err)
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

// Threat 22: the sandbox's own kill policy kills the whole process, not
// just the thread that made the call. (A profile that asks for
// SCMP_ACT_KILL_THREAD gets it, as under runc: TestConformanceKillActions.)
func TestThreatKillThread(t *testing.T) {
	res, out := run(t, []sandbox.Option{sandbox.WithDockerDefaultKill()}, "/probe/probe", "thread-mount")
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
	// In the default user namespace host root is not even mapped; the
	// case that needs nosuid and no_new_privs is the one without it, where
	// the program runs as host 65534 beside a setuid-root binary.
	for _, opts := range [][]sandbox.Option{nil, {sandbox.WithoutNamespaces(ns.User)}} {
		res, out := run(t, append(opts, sandbox.WithBind(dir, "/s")), "/s/suid", "ids")
		wantExit(t, res, out, 0)
		if out != "65534 65534 65534 65534\n" {
			t.Errorf("ids after exec of a setuid binary (%d options): %q", len(opts), out)
		}
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

// Hardening 2: a bind source that an earlier program turned into a
// symlink (it had a read-write bind over its directory) is refused, never
// followed to a host file the caller did not mean to bind.
func TestThreatSymlinkBindSource(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	os.Chmod(work, 0o777)
	res, out := run(t, []sandbox.Option{sandbox.WithBindRW(work, "/work")}, "/bin/sh", "-c", "ln -s "+secret+" /work/data")
	wantExit(t, res, out, 0)
	_, out, err := runErr(t, []sandbox.Option{sandbox.WithBind(filepath.Join(work, "data"), "/data")}, "/bin/cat", "/data")
	var ce *sandbox.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Run: %v (output %q), want a ConfigError about the symlink", err, out)
	}
}

// Hardening 3: a mount target that leads into /proc/self/fd (through the
// sandbox's /dev/fd) would be resolved through the launcher's own fds,
// which reach host directories: refused.
func TestThreatTargetThroughFD(t *testing.T) {
	for _, target := range []string{"/dev/fd/7/x", "/dev/stdout", "/proc/self/fd/3/x"} {
		_, err := sandbox.Run(sandbox.Command("/bin/true"), sandbox.WithBind(t.TempDir(), target))
		var ce *sandbox.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("target %s: %v, want a ConfigError", target, err)
		}
	}
}

// Hardening 8: a root image whose /proc (or /dev, /tmp) is a symlink
// would move the sandbox's /proc, and drop Docker's masks with it.
func TestThreatRootImageLinks(t *testing.T) {
	for _, bad := range []string{"proc", "dev", "tmp"} {
		img := t.TempDir()
		for _, d := range []string{"proc", "dev", "tmp", "usr"} {
			if d == bad {
				os.Symlink("usr", filepath.Join(img, d))
			} else {
				os.Mkdir(filepath.Join(img, d), 0o755)
			}
		}
		_, err := sandbox.Run(sandbox.Command("/bin/true"), sandbox.WithRootDir(img))
		var ce *sandbox.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), filepath.Join(img, bad)) {
			t.Errorf("/%s a symlink: %v, want a ConfigError naming it", bad, err)
		}
	}
}

// Hardening 11: every tmpfs has an inode limit in proportion to its size
// (one per 4 KiB): empty files cannot cost unbounded kernel memory.
func TestThreatTmpfsInodes(t *testing.T) {
	res, out := run(t, []sandbox.Option{sandbox.WithTmpfs("/scratch", 8<<20)}, "/bin/sh", "-c",
		"for d in /tmp /dev/shm /scratch; do stat -f -c %c $d; done")
	wantExit(t, res, out, 0)
	if want := fmt.Sprintf("%d\n%d\n%d\n", sandbox.DefaultTmpSize/4096, 64<<20/4096, 8<<20/4096); out != want {
		t.Errorf("inodes of /tmp, /dev/shm, /scratch: %q, want %q", out, want)
	}
}

// Hardening 9: a profile "file" that is a FIFO (nobody writes), a device
// (/dev/zero, endless) or too large is refused at once, naming the path.
func TestThreatProfileFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	os.WriteFile(big, bytes.Repeat([]byte(" "), sandbox.MaxProfileSize+1), 0o600)
	for _, file := range []string{fifo, "/dev/zero", dir, big} {
		done := make(chan error, 1)
		go func() {
			_, err := sandbox.Run(sandbox.Command("/bin/true"), sandbox.WithProfileFile(file))
			done <- err
		}()
		select {
		case err := <-done:
			var ce *sandbox.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), file) {
				t.Errorf("%s: %v, want a ConfigError naming it", file, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Run did not return", file)
		}
	}
}

// Hardening 4 and 10: the program's process state is its own, whatever the
// caller's: umask 022, nice 0, SCHED_OTHER, every CPU of its cpuset,
// oom_score_adj 0, RLIMIT_CORE 0 (soft), and a new, empty session keyring
// (the caller's secret key is out of reach, even with keyctl allowed). A
// helper process takes odd values first, then runs the probe: its zygote,
// from which launches are forked, starts with them.
func TestThreatCallerState(t *testing.T) {
	if runtime.NumCPU() < 2 {
		testenv.Missing(t, "needs 2 CPUs to narrow the caller's affinity")
	}
	var out bytes.Buffer
	helper := exec.Command(os.Args[0], "-test.run=^TestCallerStateHelper$")
	helper.Env = append(os.Environ(), "GOSANDBOX_STATE_PROBE="+testenv.Probe(t, "testdata"))
	helper.Stdout, helper.Stderr = &out, &out
	if err := helper.Run(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	line := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "state: ") {
			line = strings.TrimPrefix(l, "state: ")
		}
	}
	want := fmt.Sprintf("022 0 0 %d 0 0 %d", runtime.NumCPU(), syscall.ENOKEY)
	if f := strings.Fields(line); os.Geteuid() != 0 && len(f) == 7 {
		// Without privilege the caller's nice 5 and oom_score_adj
		// 500 may stay (RLIMIT_NICE and the kernel's rules decide):
		// they only lower the sandbox's standing.
		if f[1] == "5" {
			f[1] = "0"
		}
		if f[4] == "500" {
			f[4] = "0"
		}
		line = strings.Join(f, " ")
	}
	if line != want {
		t.Errorf("the program's state %q, want %q (umask nice policy cpus oom core key); helper:\n%s", line, want, out.String())
	}
}

// TestCallerStateHelper is TestThreatCallerState's helper process.
func TestCallerStateHelper(t *testing.T) {
	probe := os.Getenv("GOSANDBOX_STATE_PROBE")
	if probe == "" {
		t.Skip("a helper of TestThreatCallerState")
	}
	syscall.Umask(0o077)
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 5); err != nil {
		t.Fatal(err)
	}
	var one unix.CPUSet
	one.Set(0)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte("500"), 0); err != nil {
		t.Fatal(err)
	}
	var core unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_CORE, &core)
	core.Cur = core.Max
	unix.Setrlimit(unix.RLIMIT_CORE, &core)
	if _, err := unix.AddKey("user", "gosandbox-secret", []byte("the caller's secret"), unix.KEY_SPEC_SESSION_KEYRING); err != nil {
		t.Fatalf("add_key: %v", err)
	}
	var out bytes.Buffer
	cmd := sandbox.Command("/probe/probe", "state")
	cmd.Stdout, cmd.Stderr = &out, &out
	res, err := sandbox.Run(cmd, sandbox.WithBind(probe, "/probe"), sandbox.WithoutSeccomp())
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run: %v %+v: %s", err, res, out.String())
	}
	fmt.Printf("state: %s", out.String())
}

// A run does not change the supervisor's own state: its dumpable flag
// (a launcher that shared its memory once turned it off with the uid
// change).
func TestThreatSupervisorDumpable(t *testing.T) {
	before, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	res, out := run(t, nil, "/bin/true")
	wantExit(t, res, out, 0)
	if after, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); after != before {
		t.Errorf("dumpable %d before a run, %d after", before, after)
	}
}

// Hardening 5: a regular file given as Stdout (a log) reaches the program
// through a pipe. Handed over as it is, the program read the log's earlier
// lines through /proc/self/fd/1, and truncated it.
func TestThreatCallerLog(t *testing.T) {
	const script = `timeout 1 cat /proc/$$/fd/1 > /tmp/got 2>/dev/null; echo leaked $(grep -c secret /tmp/got); : > /proc/$$/fd/1; echo after`
	for _, direct := range []bool{false, true} {
		logFile := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(logFile, []byte("an earlier secret line\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(logFile, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(logFile, 0o666) // the sandbox user may reopen it, as a log's readers could
		cmd := sandbox.Command("/bin/sh", "-c", script)
		cmd.Stdout = f
		opts := []sandbox.Option{sandbox.WithTimeout(10 * time.Second)}
		if direct {
			opts = append(opts, sandbox.WithDirectFiles())
		}
		_, err = sandbox.Run(cmd, opts...)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(logFile)
		safe := strings.HasPrefix(string(b), "an earlier secret line\nleaked 0\n")
		if !direct && !safe {
			t.Errorf("the program read or rewrote the caller's log: %q", b)
		}
		if direct && safe {
			t.Errorf("WithDirectFiles: the attack failed (%q): the test shows nothing", b)
		}
	}
}

// Hardening 6 and 7: every filter the sandbox builds denies TIOCSTI and
// TIOCLINUX (high bits of the command or not), whatever the profile, and
// with a network of its own AF_VSOCK sockets, which a network namespace
// does not confine. With /dev/null as stdin an allowed ioctl fails with
// ENOTTY, and a denied one with EPERM.
func TestThreatTerminalAndVsock(t *testing.T) {
	const allowAll = `{"defaultAction":"SCMP_ACT_ALLOW"}`
	for _, opts := range [][]sandbox.Option{nil, {sandbox.WithProfile([]byte(allowAll))}} {
		res, out := run(t, opts, "/probe/probe", "tty")
		wantExit(t, res, out, 0)
		want := map[string]syscall.Errno{"tiocsti": syscall.EPERM, "tiocsti-high": syscall.EPERM, "tioclinux": syscall.EPERM}
		if diff := cmp.Diff(want, probeErrnos(t, out)); diff != "" {
			t.Errorf("ioctls (-want +got):\n%s", diff)
		}
		res, out = run(t, opts, "/probe/probe", "vsock")
		wantExit(t, res, out, 0)
		if out != fmt.Sprintf("vsock %d\n", syscall.EPERM) {
			t.Errorf("vsock: %q, want EPERM", out)
		}
	}
	// The host's network: AF_VSOCK is the caller's choice then.
	res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(allowAll)), sandbox.WithNetwork(sandbox.NetworkHost)}, "/probe/probe", "vsock")
	wantExit(t, res, out, 0)
	if out == fmt.Sprintf("vsock %d\n", syscall.EPERM) {
		t.Errorf("vsock under NetworkHost: %q, want what the kernel says", out)
	}
}

// Hardening 3: a program plants symlinks into /proc/self/fd in a
// read-write bind; a later run mounts below one. Resolved as it was, the
// launcher followed it into a directory it held open (a captured bind
// source, the host's) and made the mount point there. Without a user
// namespace setup runs as host root, so even a root-only directory took
// it. Setup now follows no magic link: the run fails, and the host
// directory stays empty.
func TestThreatPlantedMagicLink(t *testing.T) {
	testenv.RequireRoot(t)
	work, host := t.TempDir(), t.TempDir()
	os.Chmod(work, 0o777)
	os.Chmod(host, 0o700) // root's alone
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	os.Chmod(filepath.Dir(file), 0o755)
	noUserNS := sandbox.WithoutNamespaces(ns.User)
	res, out := run(t, []sandbox.Option{noUserNS, sandbox.WithBindRW(work, "/work")}, "/bin/sh", "-c",
		"for n in $(seq 3 40); do ln -s /proc/self/fd/$n /work/fd$n; done")
	wantExit(t, res, out, 0)
	for n := 3; n <= 40; n++ {
		target := fmt.Sprintf("/work/fd%d/planted", n)
		// The planted target before /h: /h's capture is still open
		// when the mount point is made.
		_, _, err := runErr(t, []sandbox.Option{noUserNS, sandbox.WithBindRW(work, "/work"), sandbox.WithBind(file, target), sandbox.WithBindRW(host, "/h")}, "/bin/true")
		var se *sandbox.SetupError
		if err != nil && !errors.As(err, &se) {
			t.Errorf("%s: %v, want a SetupError", target, err)
		}
	}
	if entries, _ := os.ReadDir(host); len(entries) != 0 {
		t.Errorf("the launcher made %v in a root-only host directory", entries)
	}
}
