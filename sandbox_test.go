package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosandbox/sandbox"
	"github.com/gosandbox/sandbox/internal/testenv"
	"github.com/gosandbox/sandbox/ns"
	"golang.org/x/sys/unix"
)

// The seed's profile: mount and chown(2) denied by name, all else allowed.
const seedProfile = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mount","action":"SCMP_ACT_ERRNO"},{"name":"chown","action":"SCMP_ACT_ERRNO"}]}`

// chownFamily names every chown call, as the shell's chown(1) needs.
const chownFamily = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount","chown","fchown","lchown","fchownat"],"action":"SCMP_ACT_ERRNO"}]}`

// run runs argv in a sandbox with the probe bound at /probe and returns the
// result and the output.
func run(t *testing.T, opts []sandbox.Option, argv ...string) (*sandbox.Result, string) {
	t.Helper()
	res, out, err := runErr(t, opts, argv...)
	if err != nil {
		t.Fatalf("Run(%q): %v", argv, err)
	}
	return res, out
}

// probeDir is the directory of the probe binary.
func probeDir(t *testing.T) string { return testenv.Probe(t, "testdata") }

func runErr(t *testing.T, opts []sandbox.Option, argv ...string) (*sandbox.Result, string, error) {
	t.Helper()
	probe := probeDir(t)
	var out bytes.Buffer
	cmd := sandbox.Command(argv[0], argv[1:]...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	opts = append([]sandbox.Option{sandbox.WithBind(probe, "/probe")}, opts...)
	res, err := sandbox.Run(cmd, opts...)
	return res, out.String(), err
}

func wantExit(t *testing.T, res *sandbox.Result, out string, code int) {
	t.Helper()
	if res.Status != sandbox.Exited || res.ExitCode != code {
		t.Fatalf("status %v exit %d signal %v, want exited %d; output:\n%s", res.Status, res.ExitCode, res.Signal, code, out)
	}
}

// probeErrnos parses "name errno" lines.
func probeErrnos(t *testing.T, out string) map[string]syscall.Errno {
	t.Helper()
	m := map[string]syscall.Errno{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var name string
		var e int
		if _, err := fmt.Sscanf(line, "%s %d", &name, &e); err != nil {
			t.Fatalf("probe line %q: %v (output:\n%s)", line, err, out)
		}
		m[name] = syscall.Errno(e)
	}
	return m
}

func TestSeedScenario(t *testing.T) {
	const script = "mkdir /tmp/t && echo mkdir ok && : > /tmp/f && /probe/probe chown /tmp/f && /probe/probe sys mount"
	tests := []struct {
		name  string
		opt   sandbox.Option
		chown syscall.Errno
		mount syscall.Errno
	}{
		// Under the seed's profile mkdir works, chown(2) is denied.
		{"seed profile", sandbox.WithProfile([]byte(seedProfile)), syscall.EPERM, syscall.EPERM},
		// Unconfined, chown of one's own file succeeds; mount still
		// fails for want of capabilities.
		{"unconfined", sandbox.WithoutSeccomp(), 0, syscall.EPERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out := run(t, []sandbox.Option{tt.opt}, "/bin/sh", "-c", script)
			wantExit(t, res, out, 0)
			if !strings.HasPrefix(out, "mkdir ok\n") {
				t.Fatalf("mkdir failed:\n%s", out)
			}
			got := probeErrnos(t, strings.TrimPrefix(out, "mkdir ok\n"))
			want := map[string]syscall.Errno{"chown": tt.chown, "mount": tt.mount}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("errnos (-want +got):\n%s", diff)
			}
		})
	}
}

// coreutils' chown(1) calls fchownat, which the seed's profile does not
// name: the shell command succeeds under it, and fails under a profile that
// names the whole family.
func TestSeedShellChown(t *testing.T) {
	const script = "mkdir /tmp/t && chown 65534:65534 /tmp/t"
	res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(seedProfile))}, "/bin/sh", "-c", script)
	wantExit(t, res, out, 0)

	res, out = run(t, []sandbox.Option{sandbox.WithProfile([]byte(chownFamily))}, "/bin/sh", "-c", script)
	wantExit(t, res, out, 1)
	if !strings.Contains(out, "Operation not permitted") {
		t.Errorf("output %q lacks %q", out, "Operation not permitted")
	}
}

// Docker's denials, each tried for real under docker-default.
func TestDockerDefaultDenials(t *testing.T) {
	want := map[string]syscall.Errno{
		"mount": syscall.EPERM, "umount2": syscall.EPERM, "unshare": syscall.EPERM, "setns": syscall.EPERM,
		"keyctl": syscall.EPERM, "add_key": syscall.EPERM, "bpf": syscall.EPERM, "perf_event_open": syscall.EPERM,
		"open_by_handle_at": syscall.EPERM, "io_uring_setup": syscall.EPERM, "userfaultfd": syscall.EPERM,
		"acct": syscall.EPERM, "swapon": syscall.EPERM, "reboot": syscall.EPERM, "settimeofday": syscall.EPERM,
		"kexec_load": syscall.EPERM, "clone3": syscall.ENOSYS, "clone_newuser": syscall.EPERM,
		// Allowed calls keep working.
		"getpid": 0, "mkdir": 0,
	}
	argv := []string{"/probe/probe", "sys"}
	for name := range want {
		argv = append(argv, name)
	}
	res, out := run(t, nil, argv...)
	wantExit(t, res, out, 0)
	if res.SeccompMode != sandbox.DockerDefault {
		t.Errorf("SeccompMode = %v, want docker-default", res.SeccompMode)
	}
	if diff := cmp.Diff(want, probeErrnos(t, out)); diff != "" {
		t.Errorf("errnos (-want +got):\n%s", diff)
	}
}

// The i386 and x32 twins of a denied call get the same verdict as the
// x86_64 call; under a profile that lists no foreign ABI they are killed.
func TestForeignABIs(t *testing.T) {
	if testing.Short() || !isAMD64() {
		t.Skip("amd64 only")
	}
	for _, abi := range []string{"int80", "x32"} {
		t.Run(abi, func(t *testing.T) {
			if abi == "int80" {
				testenv.RequireInt80(t, "testdata")
			}
			res, out := run(t, nil, "/probe/probe", abi, "mount", "unshare")
			wantExit(t, res, out, 0)
			want := map[string]syscall.Errno{"mount": syscall.EPERM, "unshare": syscall.EPERM}
			if diff := cmp.Diff(want, probeErrnos(t, out)); diff != "" {
				t.Errorf("errnos (-want +got):\n%s", diff)
			}
			res, out = run(t, []sandbox.Option{sandbox.WithProfile([]byte(seedProfile))}, "/probe/probe", abi, "getpid")
			if res.Status != sandbox.SeccompKilled || res.Signal != syscall.SIGSYS {
				t.Errorf("foreign ABI under a native-only profile: status %v signal %v, want seccomp_killed SIGSYS; output:\n%s", res.Status, res.Signal, out)
			}
		})
	}
}

func TestDockerDefaultKill(t *testing.T) {
	res, out := run(t, []sandbox.Option{sandbox.WithDockerDefaultKill()}, "/probe/probe", "sys", "getpid", "mount")
	if res.Status != sandbox.SeccompKilled || res.Signal != syscall.SIGSYS || res.ExitCode != 159 {
		t.Fatalf("got status %v signal %v exit %d, want seccomp_killed SIGSYS 159; output:\n%s", res.Status, res.Signal, res.ExitCode, out)
	}
	if res.SeccompMode != sandbox.DockerDefaultKill {
		t.Errorf("SeccompMode = %v", res.SeccompMode)
	}
	if out != "getpid 0\n" {
		t.Errorf("output %q, want the allowed call's line only", out)
	}
	// clone3 keeps its explicit ENOSYS rule.
	res, out = run(t, []sandbox.Option{sandbox.WithDockerDefaultKill()}, "/probe/probe", "sys", "clone3")
	wantExit(t, res, out, 0)
	if out != fmt.Sprintf("clone3 %d\n", syscall.ENOSYS) {
		t.Errorf("clone3: %q", out)
	}
}

func TestIsolation(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   string
	}{
		// The init is pid 1 and the program pid 2; while ls reads
		// /proc only they and ls exist (no pipeline, whose other end
		// may or may not be forked yet).
		{"pid namespace", `echo $$; ls /proc > /tmp/procs; grep -c '^[0-9]' /tmp/procs`, "2\n3\n"},
		{"uid and gid", "id -u; id -g; id -G", "65534\n65534\n65534\n"},
		{"hostname", "cat /proc/sys/kernel/hostname", "sandbox\n"},
		{"read-only root", "touch /x 2>/dev/null || echo ro; touch /usr/x 2>/dev/null || echo ro; touch /etc/x 2>/dev/null || echo ro", "ro\nro\nro\n"},
		{"no shadow", "test -e /etc/shadow || echo none", "none\n"},
		{"proc/sys read-only", "echo x 2>/dev/null > /proc/sys/kernel/hostname || echo denied", "denied\n"},
		{"tmp writable", "echo hi > /tmp/f && cat /tmp/f", "hi\n"},
		{"dev nodes", "head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo null; ls /dev/pts/ptmx /dev/shm >/dev/null && echo ok", "3\nnull\nok\n"},
		{"no capabilities", "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs' /proc/self/status | tr -s '\\t' ' '",
			"CapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\nCapAmb: 0000000000000000\nNoNewPrivs: 1\n"},
		{"masked kernel files", "cat /proc/keys /proc/timer_list /proc/interrupts | wc -c", "0\n"},
		{"new session", "ps -o sid= -p $$ 2>/dev/null || cat /proc/self/stat | cut -d' ' -f6", "1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out := run(t, nil, "/bin/sh", "-c", tt.script)
			wantExit(t, res, out, 0)
			if strings.TrimSpace(out) != strings.TrimSpace(tt.want) {
				t.Errorf("output:\n%s\nwant:\n%s", out, tt.want)
			}
		})
	}
}

// Only fds 0-2 and ExtraFiles reach the program, even fds the caller
// opened without close-on-exec (runc CVE-2024-21626).
func TestFDs(t *testing.T) {
	leak, err := syscall.Dup(1) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(leak)
	res, out := run(t, nil, "/probe/probe", "fds")
	wantExit(t, res, out, 0)
	if out != "0\n1\n2\n" {
		t.Errorf("fds:\n%s\nwant 0 1 2", out)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := sandbox.Command("/bin/sh", "-c", "/probe/probe fds; echo extra >&3")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.ExtraFiles = []*os.File{w}
	res, err = sandbox.Run(cmd, sandbox.WithBind(testenv.Probe(t, "testdata"), "/probe"))
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, stdout.String(), 0)
	got, _ := bytesReadAll(r)
	if got != "extra\n" {
		t.Errorf("fd 3 got %q", got)
	}
	if s := stdout.String(); s != "0\n1\n2\n3\n" {
		t.Errorf("fds with one extra file: %q, want 0-3", s)
	}
}

func bytesReadAll(f *os.File) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.String(), err
}

// The sandbox's loopback is its own: a host listener is out of reach.
func TestNoNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	res, out := run(t, nil, "/probe/probe", "connect", port)
	wantExit(t, res, out, 0)
	if got := probeErrnos(t, out)["connect"]; got != syscall.ECONNREFUSED {
		t.Errorf("connect to the host's listener: errno %v, want ECONNREFUSED from the sandbox's own loopback", got)
	}
	select {
	case <-accepted:
		t.Error("the host listener accepted a connection from the sandbox")
	case <-time.After(50 * time.Millisecond):
	}

	// With the host network the same connect succeeds.
	res, out = run(t, []sandbox.Option{sandbox.WithNetwork(sandbox.NetworkHost)}, "/probe/probe", "connect", port)
	wantExit(t, res, out, 0)
	if got := probeErrnos(t, out)["connect"]; got != 0 {
		t.Errorf("host network: connect errno %v", got)
	}
}

// Real programs keep working under docker-default.
func TestRealPrograms(t *testing.T) {
	t.Run("sh pipeline", func(t *testing.T) {
		res, out := run(t, nil, "/bin/sh", "-c", "echo a b c | tr ' ' '\\n' | sort -r | head -n 2 | wc -l")
		wantExit(t, res, out, 0)
		if out != "2\n" {
			t.Errorf("got %q", out)
		}
	})
	t.Run("python3", func(t *testing.T) {
		py := testenv.RequireTool(t, "python3")
		if !strings.HasPrefix(py, "/usr/") && !strings.HasPrefix(py, "/bin/") {
			// The sandbox binds only /usr; a python3 elsewhere is
			// not the system's.
			py = "/usr/bin/python3"
		}
		res, out := run(t, nil, py, "-c", "import os, json; print(json.dumps({'uid': os.getuid(), 'sum': sum(range(10))}))")
		wantExit(t, res, out, 0)
		if out != `{"uid": 65534, "sum": 45}`+"\n" {
			t.Errorf("got %q", out)
		}
	})
	t.Run("gcc", func(t *testing.T) {
		testenv.RequireTool(t, "gcc")
		src := `#include <stdio.h>
int main(void) { int s = 0; for (int i = 1; i <= 100; i++) s += i; printf("%d\n", s); return 0; }`
		cmd := sandbox.Command("/bin/sh", "-c", "cd /tmp && cat > m.c && gcc -O2 -o m m.c && ./m")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		cmd.Stdin = strings.NewReader(src)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		res, err := sandbox.Run(cmd)
		if err != nil {
			t.Fatal(err)
		}
		wantExit(t, res, out.String(), 0)
		if out.String() != "5050\n" {
			t.Errorf("got %q", out.String())
		}
	})
}

// Nothing of the caller's environment reaches the program: a nil Env is
// Docker's PATH alone, an empty one nothing at all.
func TestEmptyEnvironment(t *testing.T) {
	t.Setenv("GOSANDBOX_TEST_SECRET", "leak")
	res, out := run(t, nil, "/probe/probe", "env")
	wantExit(t, res, out, 0)
	if out != "PATH="+sandbox.DefaultPath+"\n" {
		t.Errorf("environment:\n%s\nwant Docker's PATH alone", out)
	}
	res, out = run(t, []sandbox.Option{sandbox.WithEnv("A=1", "B=2")}, "/probe/probe", "env")
	wantExit(t, res, out, 0)
	if out != "PATH="+sandbox.DefaultPath+"\nA=1\nB=2\n" {
		t.Errorf("environment:\n%s\nwant PATH, A and B", out)
	}
	var buf bytes.Buffer
	cmd := &sandbox.Cmd{Path: "/probe/probe", Args: []string{"probe", "env"}, Env: []string{}, Stdout: &buf}
	if _, err := sandbox.Run(cmd, sandbox.WithBind(probeDir(t), "/probe")); err != nil || buf.Len() != 0 {
		t.Errorf("an empty Env: %v, environment %q, want none", err, buf.String())
	}
}

// With a nil Env a compiler finds its helpers: gcc needs a PATH for ld.
func TestDefaultPathCompiles(t *testing.T) {
	gcc := testenv.RequireTool(t, "gcc")
	if !strings.HasPrefix(gcc, "/usr/") {
		t.Skipf("gcc at %s is not in the sandbox's /usr", gcc)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	os.WriteFile(filepath.Join(dir, "a.c"), []byte("int main(void) { return 0; }\n"), 0o644)
	res, out := run(t, []sandbox.Option{sandbox.WithWorkDir(dir, "/work")}, "gcc", "-o", "/tmp/a", "a.c")
	wantExit(t, res, out, 0)
}

func TestMounts(t *testing.T) {
	host := t.TempDir()
	os.Chmod(host, 0o777)
	if err := os.WriteFile(filepath.Join(host, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, out := run(t, []sandbox.Option{
		sandbox.WithBind(host, "/data/ro"),
		sandbox.WithBindRW(host, "/data/rw"),
		sandbox.WithTmpfs("/scratch", 1<<20),
		sandbox.WithTmpfs("/tmp", 2<<20),
	}, "/bin/sh", "-c", `cat /data/ro/in; touch /data/ro/x 2>/dev/null || echo ro denied
echo out > /data/rw/out && echo rw ok
df -k /scratch /tmp | awk 'NR>1 {print $2}'
head -c 2000000 /dev/zero > /scratch/big 2>/dev/null || echo scratch full`)
	wantExit(t, res, out, 0)
	want := "from host\nro denied\nrw ok\n1024\n2048\nscratch full\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if b, err := os.ReadFile(filepath.Join(host, "out")); err != nil || string(b) != "out\n" {
		t.Errorf("host file: %q, %v", b, err)
	}
}

func TestWorkDirAndUser(t *testing.T) {
	host := t.TempDir()
	os.Chmod(host, 0o777)
	res, out := run(t, []sandbox.Option{
		sandbox.WithWorkDir(host, "/work"),
		sandbox.WithUser(1000, 1000),
		sandbox.WithHostname("judge"),
		sandbox.WithEnv("A=1"),
	}, "/bin/sh", "-c", `pwd; id -u; id -g; hostname; echo $A; grep -c judge /etc/hosts; echo hi > f`)
	wantExit(t, res, out, 0)
	if want := "/work\n1000\n1000\njudge\n1\n1\n"; out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if _, err := os.Stat(filepath.Join(host, "f")); err != nil {
		t.Errorf("file written in the work dir: %v", err)
	}
}

func TestRootDir(t *testing.T) {
	// A tiny image: the probe as /bin/probe, and the mount points.
	img := t.TempDir()
	probe := testenv.Probe(t, "testdata")
	for _, d := range []string{"proc", "dev", "tmp", "bin"} {
		if err := os.Mkdir(filepath.Join(img, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(probe, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(img, "bin", "probe"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(img, 0o755)
	var out bytes.Buffer
	cmd := sandbox.Command("probe", "sys", "getpid", "mkdir")
	cmd.Env = []string{"PATH=/bin"}
	cmd.Stdout = &out
	res, err := sandbox.Run(cmd, sandbox.WithRootDir(img))
	if err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, out.String(), 0)
	if out.String() != "getpid 0\nmkdir 0\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestErrors(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(notExec), 0o755)
	tests := []struct {
		name  string
		cmd   *sandbox.Cmd
		opts  []sandbox.Option
		is    error  // errors.Is target
		as    any    // errors.As target
		words string // the error names the input
	}{
		{name: "missing program", cmd: sandbox.Command("/no/such/prog"), is: sandbox.ErrNotFound, words: "/no/such/prog"},
		{name: "missing in PATH", cmd: sandbox.Command("no-such-prog"), is: sandbox.ErrNotFound, words: "no-such-prog"},
		{name: "not executable", cmd: sandbox.Command("/x/script"), opts: []sandbox.Option{sandbox.WithBind(notExec, "/x/script")}, is: sandbox.ErrNotExecutable, words: "/x/script"},
		{name: "malformed JSON", cmd: sandbox.Command("/bin/true"), opts: []sandbox.Option{sandbox.WithProfile([]byte(`{"defaultAction":`))}, as: new(*sandbox.ConfigError), words: "seccomp profile"},
		{name: "unknown action", cmd: sandbox.Command("/bin/true"), opts: []sandbox.Option{sandbox.WithProfile([]byte(`{"defaultAction":"SCMP_ACT_MAYBE"}`))}, as: new(*sandbox.ConfigError), words: "SCMP_ACT_MAYBE"},
		{name: "unknown syscall denied", cmd: sandbox.Command("/bin/true"), opts: []sandbox.Option{sandbox.WithProfile([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["no_such_call"],"action":"SCMP_ACT_ERRNO"}]}`))}, as: new(*sandbox.ConfigError), words: "no_such_call"},
		{name: "missing profile file", cmd: sandbox.Command("/bin/true"), opts: []sandbox.Option{sandbox.WithProfileFile("/no/such/profile.json")}, is: os.ErrNotExist, words: "/no/such/profile.json"},
		{name: "two policies", cmd: sandbox.Command("/bin/true"), opts: []sandbox.Option{sandbox.WithoutSeccomp(), sandbox.WithDockerDefault()}, as: new(*sandbox.ConfigError), words: "WithDockerDefault"},
		{name: "network conflict", cmd: sandbox.Command("/bin/true"), opts: []sandbox.Option{sandbox.WithNetwork(sandbox.NetworkNone), sandbox.WithoutNamespaces(ns.Net)}, as: new(*sandbox.ConfigError), words: "WithNetwork"},
		{name: "mounts without mount namespace", cmd: sandbox.Command("/bin/true"), opts: []sandbox.Option{sandbox.WithTmpfs("/x", 1), sandbox.WithoutNamespaces(ns.Mount)}, as: new(*sandbox.ConfigError), words: "mount namespace"},
		{name: "relative bind target", cmd: sandbox.Command("/bin/true"), opts: []sandbox.Option{sandbox.WithBind("/usr", "usr2")}, as: new(*sandbox.ConfigError), words: "usr2"},
		{name: "missing bind source", cmd: sandbox.Command("/bin/true"), opts: []sandbox.Option{sandbox.WithBind("/no/such/dir", "/x")}, is: os.ErrNotExist, words: "/no/such/dir"},
		{name: "bad env", cmd: &sandbox.Cmd{Path: "/bin/true", Env: []string{"NOEQUALS"}}, as: new(*sandbox.ConfigError), words: "NOEQUALS"},
		{name: "empty path", cmd: &sandbox.Cmd{}, as: new(*sandbox.ConfigError), words: "Cmd.Path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := sandbox.Run(tt.cmd, tt.opts...)
			if err == nil {
				t.Fatalf("Run succeeded: %+v", res)
			}
			if res != nil {
				t.Errorf("Result %+v with error", res)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
			if tt.as != nil && !errors.As(err, tt.as) {
				t.Errorf("error %v (%T) is not a %T", err, err, tt.as)
			}
			if !strings.Contains(err.Error(), tt.words) {
				t.Errorf("error %q does not name %q", err, tt.words)
			}
		})
	}
}

func TestConcurrentRuns(t *testing.T) {
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			cmd := sandbox.Command("/bin/sh", "-c", fmt.Sprintf("echo %d; exit %d", i, i%3))
			cmd.Stdout = &out
			res, err := sandbox.Run(cmd)
			switch {
			case err != nil:
				errs <- err
			case res.ExitCode != i%3 || out.String() != fmt.Sprintf("%d\n", i):
				errs <- fmt.Errorf("run %d: exit %d output %q", i, res.ExitCode, out.String())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	// A daemon that ignores signals and a sleeper: both die with the
	// pid namespace.
	res, err := sandbox.RunContext(ctx, sandbox.Command("/bin/sh", "-c", "trap '' TERM HUP; (setsid sleep 100 &); sleep 100"))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("RunContext returned after %v", d)
	}
	// A deadline is a timeout.
	if res.Status != sandbox.Timeout || res.Signal != syscall.SIGKILL {
		t.Errorf("status %v signal %v, want timeout SIGKILL", res.Status, res.Signal)
	}
	if _, err := sandbox.RunContext(ctx, sandbox.Command("/bin/true")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RunContext with a done context: %v", err)
	}

	// A cancellation is its own verdict, apart from a timeout, even
	// with a WithTimeout not yet run out.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	res, err = sandbox.RunContext(ctx, sandbox.Command("/bin/sleep", "100"), sandbox.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.Canceled || res.Signal != syscall.SIGKILL || res.ExitCode != 137 {
		t.Errorf("cancelled: status %v signal %v exit %d, want canceled SIGKILL 137", res.Status, res.Signal, res.ExitCode)
	}
}

func TestStatusText(t *testing.T) {
	for s, want := range map[sandbox.Status]string{sandbox.Exited: "exited", sandbox.Signaled: "signaled", sandbox.SeccompKilled: "seccomp_killed",
		sandbox.Timeout: "timeout", sandbox.CPUTimeExceeded: "cpu_time_exceeded", sandbox.MemoryExceeded: "memory_exceeded", sandbox.OutputExceeded: "output_exceeded", sandbox.Canceled: "canceled"} {
		b, err := s.MarshalText()
		if err != nil || string(b) != want || s.String() != want {
			t.Errorf("%d: MarshalText %q %v, String %q; want %q", s, b, err, s, want)
		}
	}
	if _, err := sandbox.Status(0).MarshalText(); err == nil {
		t.Error("MarshalText of an unknown status succeeded")
	}
	for m, want := range map[sandbox.SeccompMode]string{sandbox.DockerDefault: "docker-default", sandbox.DockerDefaultKill: "docker-default-kill", sandbox.Unconfined: "unconfined", sandbox.Custom: "custom"} {
		if b, err := m.MarshalText(); err != nil || string(b) != want {
			t.Errorf("%d: %q %v, want %q", m, b, err, want)
		}
	}
}

// Start and Wait, as in os/exec: the program runs meanwhile, its host pid
// is known, a signal reaches it (not its init), and Signal after the end
// says the process is done.
func TestStartSignalWait(t *testing.T) {
	var out bytes.Buffer
	cmd := sandbox.Command("/bin/sh", "-c", `trap 'echo got USR1; exit 3' USR1; echo ready; while :; do sleep 0.02; done`)
	cmd.Stdout = &out
	p, err := sandbox.Start(context.Background(), cmd, sandbox.WithTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.Pid())); p.Pid() <= 0 || err != nil {
		t.Errorf("Pid %d: %v", p.Pid(), err)
	}
	time.Sleep(200 * time.Millisecond) // the trap is set
	if err := p.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.Exited || res.ExitCode != 3 || out.String() != "ready\ngot USR1\n" {
		t.Errorf("status %v exit %d output %q", res.Status, res.ExitCode, out.String())
	}
	if err := p.Signal(syscall.SIGUSR1); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after Wait: %v, want os.ErrProcessDone", err)
	}
	// A start that fails is Start's error.
	if _, err := sandbox.Start(context.Background(), sandbox.Command("no-such-program")); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Start: %v, want ErrNotFound", err)
	}
}

// Without a mount namespace the program starts in the caller's working
// directory of the moment.
func TestNoMountNamespaceCwd(t *testing.T) {
	dir, err := os.MkdirTemp("", "sandbox-cwd-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	t.Chdir(dir)
	var out bytes.Buffer
	cmd := sandbox.Command("/bin/pwd")
	cmd.Stdout = &out
	res, err := sandbox.Run(cmd, sandbox.WithoutNamespaces(ns.Mount))
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(out.String()) != dir {
		t.Errorf("Run: %v %+v, pwd %q, want %q", err, res, out.String(), dir)
	}
}

// A work directory of the caller's own, 0700, on ext4 and on tmpfs: the
// program works in it, and the files it makes belong to the caller. As
// root by an idmapped mount; rootless the sandbox user is the caller.
func TestOwnershipIdmapped(t *testing.T) {
	for _, parent := range []string{os.TempDir(), "/dev/shm"} {
		dir, err := os.MkdirTemp(parent, "sandbox-own-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o700) // the caller's alone
		var fs unix.Statfs_t
		unix.Statfs(dir, &fs)
		res, out := run(t, []sandbox.Option{sandbox.WithWorkDir(dir, "/work")}, "/bin/sh", "-c", "echo made > made && cat made")
		wantExit(t, res, out, 0)
		fi, err := os.Stat(filepath.Join(dir, "made"))
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid() {
			t.Errorf("%s (fs %#x): the program's file is %d:%d, want the caller's %d:%d", dir, fs.Type, st.Uid, st.Gid, os.Geteuid(), os.Getegid())
		}
		if os.Geteuid() == 0 && mechanism(res, "owner /work") != "idmapped mount" {
			t.Errorf("%s: ownership by %q", dir, mechanism(res, "owner /work"))
		}
	}
}

// A work directory the sandbox user may not enter (another user's, 0700)
// fails with an error that names it and says the ownership rule.
func TestOwnershipError(t *testing.T) {
	testenv.RequireRoot(t) // to make a directory another user owns
	dir, err := os.MkdirTemp("", "sandbox-own-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o700)
	os.Chown(dir, 1234, 1234)
	_, _, err = runErr(t, []sandbox.Option{sandbox.WithWorkDir(dir, "/work")}, "/bin/true")
	var se *sandbox.SetupError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "/work") || !strings.Contains(err.Error(), "idmapped") {
		t.Errorf("Run: %v, want a SetupError naming /work and the ownership rule", err)
	}
}
