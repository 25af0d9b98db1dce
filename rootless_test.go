package sandbox_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosandbox/sandbox/internal/testenv"
)

// rootlessUID is the unprivileged user the rootless leg runs as. It needs
// no passwd entry.
const rootlessUID = "1000"

// TestRootless runs this package's tests again as an unprivileged user
// (setpriv, no capabilities, no supplementary groups): the sandbox must
// build the same isolation without host root.
func TestRootless(t *testing.T) {
	if os.Getenv("GOSANDBOX_ROOTLESS") != "" {
		t.Skip("already the rootless leg")
	}
	if testing.Short() {
		t.Skip("-short: the rootless leg re-runs the whole package")
	}
	testenv.RequireRoot(t)
	setpriv := testenv.RequireTool(t, "setpriv")

	// A copy of the test binary and of testdata that the user can read,
	// whatever the permissions of the checkout; not under t.TempDir,
	// whose parent is root's alone (0700), so that the leg can exec its
	// own binary again (helper processes).
	dir, err := os.MkdirTemp("", "sandbox-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sandbox.test")
	copyFile(t, os.Args[0], bin, 0o755)
	for _, d := range []string{"testdata", "examples/strict/guest"} {
		if err := os.CopyFS(filepath.Join(dir, d), os.DirFS(d)); err != nil {
			t.Fatal(err)
		}
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			mode := os.FileMode(0o644)
			if d.IsDir() {
				mode = 0o755
			}
			if p != bin {
				os.Chmod(p, mode)
			}
		}
		return nil
	})

	args := []string{"--reuid=" + rootlessUID, "--regid=" + rootlessUID, "--clear-groups", "--inh-caps=-all", "--",
		bin, "-test.count=1", "-test.skip=^(TestRootless|FuzzCompileProfile|TestProfileCache)$"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(setpriv, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOSANDBOX_ROOTLESS=1", "HOME="+dir, "TMPDIR=/tmp")
	out, err := cmd.CombinedOutput()
	t.Logf("rootless leg (uid %s):\n%s", rootlessUID, failures(string(out)))
	if err != nil {
		t.Fatalf("rootless leg failed: %v", err)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatal("rootless leg printed no PASS")
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// failures keeps what a reader needs of a test log: everything but the
// lines of passing tests.
func failures(s string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "=== RUN") || strings.HasPrefix(t, "--- PASS") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
