//go:build linux && cgo

package filter

import (
	"fmt"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// CompileFull is Compile without the compact form: libseccomp's program as
// it is, the reference the compact form must match.
func CompileFull(p *specs.LinuxSeccomp) (*Filter, error) {
	full, err := build(p, nil, nil)
	if err != nil {
		return nil, err
	}
	return &Filter{BPF: encode(full.stubbed(p, full.program()))}, nil
}

// Resolve returns an error unless name is a syscall the filter can name:
// one known to libseccomp or in the table of newer syscalls.
func Resolve(name string) error {
	if _, err := libseccomp.GetSyscallFromName(name); err == nil {
		return nil
	}
	if _, ok := newerSyscalls[name]; ok {
		return nil
	}
	return fmt.Errorf("%w: unknown syscall %q", ErrProfile, name)
}

// UnknownToLibseccomp lists the names of newerSyscalls that the installed
// libseccomp cannot resolve, sorted.
func UnknownToLibseccomp() []string {
	var names []string
	for n := range newerSyscalls {
		if _, err := libseccomp.GetSyscallFromName(n); err != nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
