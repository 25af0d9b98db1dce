//go:build linux && cgo

package launch

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gosandbox/sandbox/internal/testenv"

	"golang.org/x/sys/unix"
)

func userSpec(p *Program) *Spec {
	return &Spec{
		CloneFlags:    unix.CLONE_NEWUSER,
		UIDMap:        "0 " + strconv.Itoa(os.Geteuid()) + " 1\n",
		GIDMap:        "0 " + strconv.Itoa(os.Getegid()) + " 1\n",
		DenySetgroups: true,
		Program:       p,
	}
}

func TestStartAndWait(t *testing.T) {
	p := &Program{}
	p.FDs(Desc{Stage: "fds"}, []int32{0, 1, 2})
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/no/such", "/bin/sh"}, []string{"sh", "-c", "exit 3"}, nil)
	proc, err := Start(userSpec(p))
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := proc.Wait()
	proc.Release()
	if err != nil || !ws.Exited() || ws.ExitStatus() != 3 {
		t.Fatalf("wait: %v %v", ws, err)
	}
}

// A failed step comes back with its Desc and errno; optional steps skip a
// missing target.
func TestStepError(t *testing.T) {
	p := &Program{}
	p.Mount(Desc{Stage: "opt"}, "", "/no/such/target", "", unix.MS_REMOUNT, "", true)
	p.Chdir(Desc{Stage: "workdir", Op: "chdir", Path: "/no/such/dir"}, "/no/such/dir")
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/true"}, []string{"true"}, nil)
	_, err := Start(userSpec(p))
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("Start: %v, want a StepError", err)
	}
	if se.Stage != "workdir" || se.Path != "/no/such/dir" || !errors.Is(err, unix.ENOENT) {
		t.Errorf("StepError %+v (%v)", se.Desc, se.Err)
	}
}

func TestExecNotFound(t *testing.T) {
	p := &Program{}
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/no/such", "/also/not"}, []string{"x"}, nil)
	_, err := Start(userSpec(p))
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Start: %v, want ENOENT", err)
	}
}

// The encoded block points at its own data: every relocation lands inside
// it, and the config's counts are the program's.
func TestEncode(t *testing.T) {
	p := &Program{}
	p.OpenTree(Desc{}, "/usr", true, 2, 1, 0)
	p.WriteFile(Desc{}, "/etc/x", []byte("data"), 0o644)
	p.Exec(Desc{}, []string{"/bin/true"}, []string{"true", "a"}, []string{"A=1"})
	buf := p.encode([2]int{3, 4}, [2]int{5, 6})
	if got := int(binary.NativeEndian.Uint32(buf[16:])); got != 3 {
		t.Errorf("nsteps %d", got)
	}
	if got := int(binary.NativeEndian.Uint32(buf[20:])); got != 3 {
		t.Errorf("nslots %d, want 3 (slot 2 used)", got)
	}
	for _, at := range p.relocs {
		if off := binary.NativeEndian.Uint64(buf[at:]); off == 0 || off >= uint64(len(buf)) {
			t.Errorf("relocation at %d points to %d, outside the block of %d", at, off, len(buf))
		}
	}
}

// clone3 with CLONE_INTO_CGROUP makes the child in a cgroup v2 directory
// (this machine's unified hierarchy has no controllers, which does not
// matter for membership).
func TestCloneIntoCgroup(t *testing.T) {
	testenv.RequireRoot(t)
	root := cgroup2Mount(t)
	dir, err := os.MkdirTemp(root, "launch-test-")
	if err != nil {
		testenv.Missing(t, "cannot make a cgroup v2 directory: %v", err)
	}
	defer os.Remove(dir)
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &Program{}
	p.FDs(Desc{Stage: "fds"}, []int32{0, 1, 2})
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/sleep"}, []string{"sleep", "10"}, nil)
	spec := userSpec(p)
	spec.Cgroup = f
	spec.Prepare = func(int) error { t.Error("Prepare called, though clone3 put the child in its cgroup"); return nil }
	proc, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(proc.Pid) + "/cgroup")
	proc.Kill()
	proc.Wait()
	proc.Release()
	if want := "0::/" + filepath.Base(dir) + "\n"; !strings.Contains(string(b), want) {
		t.Errorf("/proc/PID/cgroup:\n%s\nlacks %q", b, want)
	}
}

// cgroup2Mount returns where cgroup v2 is mounted.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 8 && strings.Contains(line, " - cgroup2 ") {
			return f[4]
		}
	}
	testenv.Missing(t, "no cgroup2 mount")
	return ""
}
