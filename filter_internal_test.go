//go:build linux && cgo

package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

// A profile is compiled once: the second policy of the same bytes has the
// same compiled filter.
func TestProfileCache(t *testing.T) {
	b, err := os.ReadFile("testdata/profiles/conditional.json")
	if err != nil {
		t.Fatal(err)
	}
	p1, err := customPolicy("a", b)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := customPolicy("b", b)
	if err != nil {
		t.Fatal(err)
	}
	f1, _ := p1.compile()
	f2, _ := p2.compile()
	if f1 == nil || f1 != f2 {
		t.Error("the same profile was compiled twice")
	}
	d1, _ := dockerDefaultPolicy.compile()
	d2, _ := dockerDefaultPolicy.compile()
	if d1 == nil || d1 != d2 {
		t.Error("Docker's default was compiled twice")
	}
}

// FuzzCompileProfile feeds arbitrary bytes to the profile loader and
// compiler: they return a filter or an error, never panic.
func FuzzCompileProfile(f *testing.F) {
	files, _ := filepath.Glob("testdata/profiles/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mount","names":["chown"],"action":"SCMP_ACT_ERRNO"}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_KILL","architectures":["SCMP_ARCH_X86"],"archMap":[]}`))
	f.Add([]byte(`{"syscalls":[{"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":9,"value":1,"op":"SCMP_CMP_EQ"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		flt, err := compileProfile(b)
		if err == nil && (len(flt.BPF) == 0 || len(flt.BPF)%8 != 0) {
			t.Fatalf("a filter of %d bytes", len(flt.BPF))
		}
	})
}
