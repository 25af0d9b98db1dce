//go:build linux && cgo

package builtin_test

import (
	"bytes"
	"os"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gosandbox/sandbox/internal/builtin"
	"github.com/gosandbox/sandbox/internal/filter"
	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// Each embedded program is what a compile at run time gives, bit for bit:
// for each variant, the compile of the profile resolved for it; and for
// the running kernel, the compile of what Docker's loader itself resolves
// here, which is what Program picks.
func TestEmbeddedEqualsCompile(t *testing.T) {
	if _, err := os.Stat(builtin.Path(runtime.GOARCH, builtin.DockerDefault, builtin.Kernel{})); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("no programs generated for %s: go generate ./internal/builtin on one", runtime.GOARCH)
	}
	for _, name := range builtin.Names {
		for _, k := range builtin.Kernels() {
			p, err := builtin.Resolve(name, k)
			if err != nil {
				t.Fatal(err)
			}
			want := compile(t, p)
			got, err := os.ReadFile(builtin.Path(runtime.GOARCH, name, k))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.BPF) {
				t.Errorf("%s for kernels from %v: the embedded program (%d bytes) is not the compiled one (%d bytes): go generate ./internal/builtin", name, k, len(got), len(want.BPF))
			}
		}

		// The running kernel, through Docker's own loader.
		p, err := seccomp.GetDefaultProfile(&specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}})
		if err != nil {
			t.Fatal(err)
		}
		if name == builtin.DockerDefaultKill {
			p.DefaultAction = specs.ActKillProcess
		}
		// Profile, which Run compiles where no program is embedded,
		// resolves the same.
		if q, err := builtin.Profile(name); err != nil || !cmp.Equal(p, q) {
			t.Errorf("%s: Profile differs from the loader's: %v %s", name, err, cmp.Diff(p, q))
		}
		want := compile(t, p)
		b, ok := builtin.Program(name)
		if !ok {
			t.Fatalf("%s: no program for this kernel", name)
		}
		got, err := filter.FromProgram(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: the Filter of the embedded program differs from the compiled one (-compiled +embedded):\n%s", name, diff)
		}
	}
}

func compile(t *testing.T, p *specs.LinuxSeccomp) *filter.Filter {
	t.Helper()
	f, err := filter.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The variants differ where the profile's minKernel says: ptrace is
// allowed from 4.8 on.
func TestKernels(t *testing.T) {
	if diff := cmp.Diff([]builtin.Kernel{{0, 0}, {4, 8}}, builtin.Kernels()); diff != "" {
		t.Errorf("kernels (-want +got):\n%s", diff)
	}
	has := func(p *specs.LinuxSeccomp, name string) bool {
		for _, r := range p.Syscalls {
			for _, n := range r.Names {
				if n == name && r.Action == specs.ActAllow {
					return true
				}
			}
		}
		return false
	}
	old, _ := builtin.Resolve(builtin.DockerDefault, builtin.Kernel{4, 7})
	cur, _ := builtin.Resolve(builtin.DockerDefault, builtin.Kernel{4, 8})
	if has(old, "ptrace") || !has(cur, "ptrace") {
		t.Errorf("ptrace allowed on 4.7: %v, on 4.8: %v; want false, true", has(old, "ptrace"), has(cur, "ptrace"))
	}
}
