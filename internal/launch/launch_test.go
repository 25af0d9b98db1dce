//go:build linux && cgo

package launch

import (
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"testing"

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
