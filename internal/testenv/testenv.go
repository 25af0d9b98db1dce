//go:build linux

// Package testenv holds the tests' checks of what the machine offers.
//
// A test that needs root, a kernel feature or a tool skips with the reason
// when it is missing, except under CI=true, where it fails: a skip in CI
// would hide a broken feature.
package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// Main runs the tests of a package that builds helper binaries, then
// removes what BuildC made. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	built.Lock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.Unlock()
	os.Exit(code)
}

// Missing skips t, or fails it when CI=true, saying what is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required under CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRoot needs euid 0. In the rootless leg of the suite (which the
// root leg starts, and which runs the same tests as root) it skips even
// under CI=true.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("GOSANDBOX_ROOTLESS") != "" {
			t.Skipf("needs root: the root leg runs it (euid %d)", os.Geteuid())
		}
		Missing(t, "needs root (euid %d)", os.Geteuid())
	}
}

// RequireTool needs a program on PATH and returns its path.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "needs %s: %v", name, err)
	}
	return p
}

var built struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

// BuildC compiles the C file src with gcc and flags into a binary called
// name, once per test binary, and returns its path. The binaries share one
// world-readable directory, so that rootless runs can bind it.
func BuildC(t testing.TB, name, src string, flags ...string) string {
	t.Helper()
	gcc := RequireTool(t, "gcc")
	built.Lock()
	defer built.Unlock()
	if p, ok := built.bins[name]; ok {
		return p
	}
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "sandbox-test-bin-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		built.dir, built.bins = dir, map[string]string{}
	}
	out := filepath.Join(built.dir, name)
	args := append(append([]string{}, flags...), "-o", out, src)
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	built.bins[name] = out
	return out
}

// Probe builds testdata/probe.c (static) and returns the directory that
// holds the binary "probe".
func Probe(t testing.TB, testdata string) string {
	t.Helper()
	return filepath.Dir(BuildC(t, "probe", filepath.Join(testdata, "probe.c"), "-O1", "-static", "-pthread"))
}

var int80 struct {
	once sync.Once
	err  error
}

// RequireInt80 needs a host whose kernel answers int $0x80 (the i386
// ABI on amd64). Some hosts of this machine kind have
// CONFIG_IA32_EMULATION=y and still fault on every int $0x80, outside any
// sandbox too: there it skips with the reason, even under CI=true, since
// no build of ours can change it. It asks a forked child of the host for
// getpid through int $0x80 (as nobody when the tests run as root), and
// nothing else.
func RequireInt80(t testing.TB, testdata string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skipf("int $0x80 is amd64's i386 ABI; this is %s", runtime.GOARCH)
	}
	probe := filepath.Join(Probe(t, testdata), "probe")
	int80.once.Do(func() {
		cmd := exec.Command(probe, "int80", "getpid")
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				int80.err = errors.New("int $0x80 kills with " + ws.Signal().String() + " on this host, outside any sandbox")
				return
			}
		}
		if err != nil {
			int80.err = errors.New("the int $0x80 check failed: " + err.Error() + ": " + string(out))
		}
	})
	if int80.err != nil {
		t.Skip(int80.err)
	}
}
