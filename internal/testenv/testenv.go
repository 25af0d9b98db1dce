// Package testenv holds the tests' checks of what the machine offers.
//
// A test that needs root, a kernel feature or a tool skips with the reason
// when it is missing, except under CI=true, where it fails: a skip in CI
// would hide a broken feature.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Missing skips t, or fails it when CI=true, saying what is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required under CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRoot needs euid 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
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

var (
	probeOnce sync.Once
	probeDir  string
	probeErr  error
)

// Probe builds testdata/probe.c (static, with gcc) once per test binary and
// returns the directory that holds the binary "probe". The directory is
// world-readable so that rootless runs can bind it.
func Probe(t testing.TB, testdata string) string {
	t.Helper()
	gcc := RequireTool(t, "gcc")
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sandbox-probe-")
		if err != nil {
			probeErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			probeErr = err
			return
		}
		out, err := exec.Command(gcc, "-O1", "-static", "-pthread", "-o", filepath.Join(dir, "probe"), filepath.Join(testdata, "probe.c")).CombinedOutput()
		if err != nil {
			probeErr = &buildError{err: err, out: string(out)}
			return
		}
		probeDir = dir
	})
	if probeErr != nil {
		t.Fatalf("building probe: %v", probeErr)
	}
	return probeDir
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }
