//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosandbox/sandbox/internal/testenv"
)

func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o644)
	profile := filepath.Join(dir, "bad.json")
	os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_NOPE"}`), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		err  string // a word the one-line error must have
	}{
		{"own exit code", []string{"run", "--", "sh", "-c", "exit 7"}, 7, ""},
		// A fault is a kernel-sent signal, which reaches even pid 1.
		{"signal", []string{"run", "--", "python3", "-c", "import ctypes; ctypes.string_at(0)"}, 139, ""},
		{"seccomp kill", []string{"run", "--seccomp", "docker-default-kill", "--", "unshare", "-U", "true"}, 159, ""},
		{"not found", []string{"run", "--", "no-such-program"}, 127, "no-such-program"},
		{"not executable", []string{"run", "--bind", script + ":/s", "--", "/s"}, 126, "/s"},
		{"bad flag", []string{"run", "--no-such-flag", "--", "true"}, 125, "no-such-flag"},
		{"bad network", []string{"run", "--network", "wifi", "--", "true"}, 125, "wifi"},
		{"invalid profile", []string{"run", "--seccomp", profile, "--", "true"}, 125, "SCMP_ACT_NOPE"},
		{"missing profile", []string{"run", "--seccomp", "/no/such.json", "--", "true"}, 125, "/no/such.json"},
		{"bad tmpfs size", []string{"run", "--tmpfs", "/x:lots", "--", "true"}, 125, "lots"},
		{"no program", []string{"run"}, 125, "PROGRAM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := cli(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if tt.err != "" && !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr %q does not name %q", stderr, tt.err)
			}
		})
	}
}

func TestRunDefaults(t *testing.T) {
	code, out, errOut := cli(t, "run", "--", "sh", "-c", "id -u; id -g; hostname; pwd; echo $PATH; ls /proc/self/fd | wc -l; test -d /proc && test -d /dev && echo ok")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "65534\n65534\nsandbox\n/tmp\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n4\nok\n" // 0-2 and ls's own
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestResultJSON(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.json")
	code, _, _ := cli(t, "run", "--result", file, "--seccomp", "docker-default-kill", "--", "unshare", "-U", "true")
	var r map[string]any
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if r["status"] != "seccomp_killed" || r["signal"] != "SIGSYS" || r["exit_code"] != float64(code) || r["seccomp_mode"] != "docker-default-kill" {
		t.Errorf("result %s (exit %d)", b, code)
	}
	// A setup error still writes the result.
	code, _, stderr := cli(t, "run", "--result", "-", "--seccomp", "/no/such.json", "--", "true")
	line := stderr[strings.Index(stderr, "{"):]
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("%q: %v", stderr, err)
	}
	if r["status"] != "setup_error" || r["exit_code"] != float64(code) || !strings.Contains(r["error"].(string), "/no/such.json") {
		t.Errorf("setup error result: %s", line)
	}
}

func TestBindAndTmpfs(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	os.WriteFile(filepath.Join(dir, "f"), []byte("hi\n"), 0o644)
	code, out, errOut := cli(t, "run", "--bind", dir, "--bind", dir+":/rw:rw", "--tmpfs", "/tmp:1M", "--tmpfs", "/scratch:2M",
		"--", "sh", "-c", "cat "+dir+"/f; echo x > /rw/g && echo rw; df -k /tmp /scratch | awk 'NR>1{print $2}'")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "hi\nrw\n1024\n2048\n" {
		t.Errorf("got %q", out)
	}
}

func TestProfileShowRoundTrip(t *testing.T) {
	code, out, _ := cli(t, "profile", "show", "docker-default")
	if code != 0 || !strings.Contains(out, `"defaultAction": "SCMP_ACT_ERRNO"`) || !strings.Contains(out, "CAP_SYS_ADMIN") {
		t.Fatalf("exit %d, output lacks the profile or its capability conditions", code)
	}
	file := filepath.Join(t.TempDir(), "docker.json")
	os.WriteFile(file, []byte(out), 0o644)
	// Fed back, it denies what docker-default denies.
	code, _, _ = cli(t, "run", "--seccomp", file, "--", "unshare", "-U", "true")
	if code == 0 {
		t.Error("unshare succeeded under the shown profile")
	}
	code, _, _ = cli(t, "run", "--seccomp", file, "--", "true")
	if code != 0 {
		t.Errorf("true failed under the shown profile: %d", code)
	}
}

func TestStrict(t *testing.T) {
	dir := filepath.Dir(testenv.BuildC(t, "sum", "../../examples/strict/guest/sum.c", "-static", "-nostdlib", "-O2"))
	testenv.BuildC(t, "getpid", "../../testdata/strict/getpid.c", "-static", "-nostdlib", "-O2", "-I../../examples/strict/guest")
	var o, e bytes.Buffer
	code := run([]string{"run", "--seccomp", "strict", "--bind", dir + ":/g", "--", "/g/sum"}, strings.NewReader("20 22"), &o, &e)
	if code != 0 || o.String() != "42\n" {
		t.Errorf("sum: exit %d output %q stderr %q", code, o.String(), e.String())
	}
	code, out, stderr := cli(t, "run", "--seccomp", "strict", "--result", "-", "--bind", dir+":/g", "--", "/g/getpid")
	if code != 137 || out != "before getpid\n" || !strings.Contains(stderr, `"status":"seccomp_killed"`) || !strings.Contains(stderr, `"seccomp_mode":"strict"`) {
		t.Errorf("getpid: exit %d output %q result %s", code, out, stderr)
	}
	if code, _, stderr := cli(t, "run", "--seccomp", "strict", "--", "/bin/true"); code != 126 || !strings.Contains(stderr, "dynamic") {
		t.Errorf("a dynamic binary: exit %d, %s", code, stderr)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "1K": 1024, "1M": 1 << 20, "3G": 3 << 30, "64m": 64 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "M", "1T", "1.5M", "99999999999999999G"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}

func TestParseBind(t *testing.T) {
	tests := []struct {
		in, src, dst string
		rw, err      bool
	}{
		{in: "/a", src: "/a", dst: "/a"},
		{in: "/a:/b", src: "/a", dst: "/b"},
		{in: "/a:/b:rw", src: "/a", dst: "/b", rw: true},
		{in: "/a:/b:ro", src: "/a", dst: "/b"},
		{in: "/a:/b:x", err: true},
		{in: ":/b", err: true},
		{in: "/a:", err: true},
		{in: "/a:/b:rw:z", err: true},
	}
	for _, tt := range tests {
		src, dst, rw, err := parseBind(tt.in)
		if (err != nil) != tt.err || (err == nil && (src != tt.src || dst != tt.dst || rw != tt.rw)) {
			t.Errorf("parseBind(%q) = %q %q %v %v", tt.in, src, dst, rw, err)
		}
	}
}

func FuzzParseMountFlags(f *testing.F) {
	for _, s := range []string{"/a:/b:rw", "/tmp:64M", "x", "::", "/a:1G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if src, dst, _, err := parseBind(s); err == nil && (src == "" || dst == "") {
			t.Fatalf("parseBind(%q) gave an empty path", s)
		}
		if _, n, err := parseTmpfs(s); err == nil && n <= 0 {
			t.Fatalf("parseTmpfs(%q) gave size %d", s, n)
		}
	})
}

func TestLimitFlags(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		status string
	}{
		{"timeout", []string{"--timeout", "300ms", "--", "sh", "-c", "while :; do :; done"}, "timeout"},
		{"cpu time", []string{"--cpu-time", "200ms", "--best-effort", "--", "sh", "-c", "while :; do :; done"}, "cpu_time_exceeded"},
		{"output", []string{"--output-limit", "1K", "--", "head", "-c", "100000", "/dev/zero"}, "output_exceeded"},
	}
	if os.Geteuid() == 0 {
		tests = append(tests, struct {
			name   string
			args   []string
			status string
		}{"memory", []string{"--memory", "32M", "--", "python3", "-c", "b = b'x' * (256 << 20)"}, "memory_exceeded"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o, e bytes.Buffer
			code := run(append([]string{"run", "--result", "-"}, tt.args...), strings.NewReader(""), &o, &e)
			var r map[string]any
			line := e.String()[strings.LastIndex(e.String(), "{"):]
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%q: %v", e.String(), err)
			}
			if code != 137 || r["status"] != tt.status || r["signal"] != "SIGKILL" || r["exit_code"] != float64(137) {
				t.Errorf("exit %d result %s", code, line)
			}
			if tt.status == "output_exceeded" && (r["output_truncated"] != true || o.Len() > 1024) {
				t.Errorf("output %d bytes, result %s", o.Len(), line)
			}
		})
	}
	// --pids defaults to 256 where cgroups can be made.
	code, out, _ := cli(t, "run", "--", "sh", "-c", "cat /proc/self/cgroup >/dev/null; echo ok")
	if code != 0 || out != "ok\n" {
		t.Errorf("default pids: exit %d %q", code, out)
	}
}

func TestLearnCmd(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "p.json")
	code, out, stderr := cli(t, "learn", "-o", profile, "--", "sh", "-c", "mkdir t && chown 65534:65534 t && echo done")
	if code != 0 || out != "done\n" || !strings.Contains(stderr, "recorded") {
		t.Fatalf("learn: exit %d out %q stderr %q", code, out, stderr)
	}
	// Learn mode shows that coreutils' chown calls fchownat, not chown.
	if !strings.Contains(stderr, " fchownat ") || strings.Contains(stderr, " chown ") {
		t.Errorf("recorded: %s", stderr)
	}
	code, out, _ = cli(t, "run", "--seccomp", profile, "--", "sh", "-c", "mkdir t && chown 65534:65534 t && echo done")
	if code != 0 || out != "done\n" {
		t.Errorf("under the learned profile: exit %d %q", code, out)
	}
	// Something new is denied (EPERM) and named.
	code, _, stderr = cli(t, "run", "--seccomp", profile, "--result", "-", "--", "sh", "-c", "mkdir t && chown 65534:65534 t && echo done; hostname x")
	if code != 1 || !strings.Contains(stderr, `"syscall":"sethostname"`) {
		t.Errorf("a new call: exit %d stderr %s", code, stderr)
	}
	for _, args := range [][]string{{"learn", "--", "true"}, {"learn", "-o", profile, "--seccomp", "unconfined", "--", "true"}} {
		if code, _, _ := cli(t, args...); code != 125 {
			t.Errorf("%q: exit %d, want 125", args, code)
		}
	}
}

// The seed's walk-through: a profile denying mount and the chown family
// makes the shell's chown fail, and the result names the call.
func TestSeedWalkThrough(t *testing.T) {
	code, _, stderr := cli(t, "run", "--seccomp", "../../testdata/profiles/chown-family.json", "--result", "-",
		"--", "sh", "-c", "mkdir t && chown 65534:65534 t")
	if code != 1 || !strings.Contains(stderr, "Operation not permitted") ||
		!strings.Contains(stderr, `"violations":[{"syscall":"fchownat"`) || !strings.Contains(stderr, `"violation_count":1`) {
		t.Errorf("exit %d stderr %s", code, stderr)
	}
}

// The CLI leaves no cgroup behind: its pooled group goes when it exits.
func TestNoCgroupLeft(t *testing.T) {
	testenv.RequireRoot(t)
	bin := filepath.Join(t.TempDir(), "sandbox")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "--memory", "64M", "--", "true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	pattern := fmt.Sprintf("/sys/fs/cgroup/*/gosandbox/%d-*", cmd.Process.Pid)
	deeper := fmt.Sprintf("/sys/fs/cgroup/*/*/*/gosandbox/%d-*", cmd.Process.Pid)
	for _, p := range []string{pattern, deeper} {
		if left, _ := filepath.Glob(p); len(left) > 0 {
			t.Errorf("cgroups left: %v", left)
		}
	}
}

// TestMain removes the helper binaries that the tests build.
func TestMain(m *testing.M) { testenv.Main(m) }

// Hardening: a program with a read-write bind over the directory of
// --result or learn -o replaces the file with a symlink to a host file;
// the CLI (often root) must not write through it.
func TestOutputFilesFollowNoSymlink(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	os.Chmod(out, 0o777)
	plant := func(name string) string { return "ln -sf " + secret + " /out/" + name }
	for _, args := range [][]string{
		{"run", "--bind", out + ":/out:rw", "--result", filepath.Join(out, "result.json"), "--", "sh", "-c", plant("result.json")},
		{"learn", "--bind", out + ":/out:rw", "-o", filepath.Join(out, "profile.json"), "--", "sh", "-c", plant("profile.json")},
	} {
		if code, _, stderr := cli(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	if b, _ := os.ReadFile(secret); string(b) != "keep me\n" {
		t.Errorf("the host file was written through the planted symlink: %q", b)
	}
	for _, name := range []string{"result.json", "profile.json"} {
		fi, err := os.Lstat(filepath.Join(out, name))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v %v, want a regular file replacing the symlink", name, fi, err)
		}
	}
}

// Rootless, where no cgroup can be had, the default --pids cannot be
// enforced: the CLI says so on stderr, and runs.
func TestDefaultPidsUnenforceable(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv := testenv.RequireTool(t, "setpriv")
	dir, err := os.MkdirTemp("", "sandbox-cli-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "cli.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=1000", "--regid=1000", "--clear-groups", "--inh-caps=-all", "--", bin, "-test.run=^TestCLIHelper$")
	cmd.Env = append(os.Environ(), "GOSANDBOX_CLI_ARGS=run\t--\ttrue")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "the default --pids 256 cannot be enforced here") || !strings.Contains(string(out), "exit 0") {
		t.Errorf("output %q, want the warning and exit 0", out)
	}
}

// TestCLIHelper runs the CLI with the arguments in GOSANDBOX_CLI_ARGS
// (tab-separated).
func TestCLIHelper(t *testing.T) {
	args := os.Getenv("GOSANDBOX_CLI_ARGS")
	if args == "" {
		t.Skip("a helper of the CLI tests")
	}
	code := run(strings.Split(args, "\t"), strings.NewReader(""), os.Stdout, os.Stdout)
	fmt.Printf("exit %d\n", code)
}

// A flag error is one line on stderr, exit 125, and --result has it; a
// bad size echoes what was given.
func TestFlagErrors(t *testing.T) {
	code, stdout, stderr := cli(t, "run", "--no-such-flag", "--", "true")
	if code != 125 || stdout != "" || stderr != "sandbox: flag provided but not defined: -no-such-flag (see sandbox run --help)\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = cli(t, "run", "--memory", "1.5G", "--", "true")
	if code != 125 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `"1.5G"`) {
		t.Errorf("--memory 1.5G: exit %d, stderr %q", code, stderr)
	}
	// Two policies are a usage error, not a silent last-one-wins.
	code, _, stderr = cli(t, "run", "--seccomp", "unconfined", "--seccomp", "docker-default", "--", "true")
	if code != 125 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "given twice") {
		t.Errorf("two --seccomp: exit %d, stderr %q", code, stderr)
	}
	file := filepath.Join(t.TempDir(), "r.json")
	code, _, _ = cli(t, "run", "--result", file, "--bogus", "--", "true")
	var r map[string]any
	b, _ := os.ReadFile(file)
	if err := json.Unmarshal(b, &r); err != nil || code != 125 || r["status"] != "setup_error" || !strings.Contains(fmt.Sprint(r["error"]), "bogus") {
		t.Errorf("--result on a flag error: exit %d, %s (%v)", code, b, err)
	}
}

// Each subcommand's --help shows its own flags on stdout, exit 0; the
// version comes from the build info; an unknown profile is one line.
func TestHelpAndVersion(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--help"}, []string{"usage: sandbox run", "-seccomp", "-timeout"}},
		{[]string{"learn", "--help"}, []string{"usage: sandbox learn", "-o PROFILE.json", "-timeout"}},
		{[]string{"profile", "--help"}, []string{"usage: sandbox profile show"}},
		{[]string{"--version"}, []string{"sandbox "}},
	} {
		code, stdout, stderr := cli(t, tt.args...)
		for _, w := range tt.want {
			if code != 0 || stderr != "" || !strings.Contains(stdout, w) {
				t.Errorf("%v: exit %d, stderr %q, stdout without %q", tt.args, code, stderr, w)
			}
		}
	}
	code, _, stderr := cli(t, "profile", "show", "nope")
	if code != 125 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `unknown profile "nope"`) {
		t.Errorf("profile show nope: exit %d, stderr %q", code, stderr)
	}
}

// When a limit ends the program, the CLI says so in one line on stderr,
// after the program's own output.
func TestLimitKillLine(t *testing.T) {
	// Not tight: the deadline covers setup too, and the first run of a
	// process starts its zygote, which -race and a loaded CI slow down.
	code, _, stderr := cli(t, "run", "--timeout", "1s", "--", "sh", "-c", "echo own >&2; while :; do :; done")
	if code != 137 || stderr != "own\nsandbox: timeout after 1s: killed\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// Every example in the help works as written (through a shell, from a
// directory that holds what it names): none ends in a setup error (125),
// nor in a program that cannot be found or run (126, 127).
func TestHelpExamples(t *testing.T) {
	testenv.RequireRoot(t) // the --memory example needs a cgroup
	gcc := testenv.RequireTool(t, "gcc")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "sandbox"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// What the examples name: a policy, a source tree with a Makefile, a
	// static strict guest and its input, a program to judge.
	os.WriteFile(filepath.Join(dir, "mypolicy.json"), []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chown","fchown","lchown","fchownat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	os.WriteFile(filepath.Join(dir, "src", "Makefile"), []byte("all:\n\techo built\n"), 0o644)
	if out, err := exec.Command(gcc, "-static", "-nostdlib", "-O2", "-I../../examples/strict/guest", "-o", filepath.Join(bin, "sum"), "../../examples/strict/guest/sum.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "numbers.txt"), []byte("1 2 3\n"), 0o644)
	b, _ := os.ReadFile("/bin/true")
	os.WriteFile(filepath.Join(dir, "solution"), b, 0o755)
	var examples []string
	for _, help := range []string{usage, runHelp, learnHelp, profileHelp} {
		for _, line := range strings.Split(help, "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "sandbox ") && !strings.ContainsAny(l, "[]") && strings.HasPrefix(line, "  ") {
				examples = append(examples, l)
			}
		}
	}
	if len(examples) < 8 {
		t.Fatalf("found %d examples", len(examples))
	}
	for _, ex := range examples {
		cmd := exec.Command("/bin/sh", "-c", ex)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
		if code >= 125 {
			t.Errorf("%s: exit %d:\n%s", ex, code, out)
		}
	}
}
