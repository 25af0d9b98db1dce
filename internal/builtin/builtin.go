//go:build linux

// Package builtin holds the sandbox's built-in seccomp programs, Docker's
// default profile and its kill variant, compiled ahead of time so that no
// process pays for compiling them (about 30 ms: libseccomp's export and the
// compact re-encoding).
//
// Docker's loader resolves the profile for a container's capabilities, its
// architecture and the running kernel (the rules' minKernel). The
// capabilities are fixed here (none: the sandbox's program has none), so a
// program exists for each architecture and each kernel-version variant:
// one for kernels below the lowest minKernel the profile names, and one
// from each such version up. `go generate` writes them for the
// architecture it runs on (programs/GOARCH/NAME_K.M.bpf); Program picks
// the running kernel's. TestEmbeddedEqualsCompile proves each one is what
// a compile at run time gives.
package builtin

import (
	"embed"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

//go:generate go run ./gen

//go:embed programs
var programs embed.FS

// The built-in profiles.
const (
	DockerDefault     = "docker-default"
	DockerDefaultKill = "docker-default-kill"
)

// Names are the built-in profiles.
var Names = []string{DockerDefault, DockerDefaultKill}

// Kernel is a kernel version, major and minor.
type Kernel struct{ Major, Minor uint64 }

func (k Kernel) String() string { return fmt.Sprintf("%d.%d", k.Major, k.Minor) }

func (k Kernel) atLeast(m Kernel) bool {
	return k.Major > m.Major || (k.Major == m.Major && k.Minor >= m.Minor)
}

// Kernels are the lowest versions of the kernel-version variants of
// Docker's profile, in order: 0.0, then each minKernel it names.
func Kernels() []Kernel {
	ks := []Kernel{{}}
	for _, r := range seccomp.DefaultProfile().Syscalls {
		for _, f := range []*seccomp.Filter{r.Includes, r.Excludes} {
			if f != nil && f.MinKernel != nil {
				ks = append(ks, Kernel{f.MinKernel.Kernel, f.MinKernel.Major})
			}
		}
	}
	slices.SortFunc(ks, func(a, b Kernel) int {
		if a == b {
			return 0
		}
		if a.atLeast(b) {
			return 1
		}
		return -1
	})
	return slices.Compact(ks)
}

// Resolve returns the built-in profile name as Docker's loader resolves it
// for a program with no capabilities on this architecture and a kernel of
// version k: each minKernel condition is settled for k, and the loader
// does the rest.
func Resolve(name string, k Kernel) (*specs.LinuxSeccomp, error) {
	def := seccomp.DefaultProfile()
	var rules []*seccomp.Syscall
	for _, r := range def.Syscalls {
		if f := r.Includes; f != nil && f.MinKernel != nil {
			if !k.atLeast(Kernel{f.MinKernel.Kernel, f.MinKernel.Major}) {
				continue // not included on k
			}
			f.MinKernel = nil
		}
		if f := r.Excludes; f != nil && f.MinKernel != nil {
			if k.atLeast(Kernel{f.MinKernel.Kernel, f.MinKernel.Major}) {
				continue // excluded on k
			}
			f.MinKernel = nil
		}
		rules = append(rules, r)
	}
	def.Syscalls = rules
	b, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	p, err := seccomp.LoadProfile(string(b), &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}})
	if err != nil {
		return nil, err
	}
	switch name {
	case DockerDefault:
	case DockerDefaultKill:
		p.DefaultAction = specs.ActKillProcess
	default:
		return nil, fmt.Errorf("builtin: no profile %q", name)
	}
	return p, nil
}

// Profile returns the built-in profile name resolved for the running
// kernel.
func Profile(name string) (*specs.LinuxSeccomp, error) {
	k, ok := running()
	if !ok {
		return nil, fmt.Errorf("builtin: the running kernel's version is not known")
	}
	return Resolve(name, k)
}

// Path is where the program of name for kernel variant k and the
// architecture goarch is kept.
func Path(goarch, name string, k Kernel) string {
	return "programs/" + goarch + "/" + name + "_" + k.String() + ".bpf"
}

// Program returns the program of name (struct sock_filter bytes) for this
// architecture and the running kernel, or false where none was generated.
func Program(name string) ([]byte, bool) {
	k, ok := running()
	if !ok {
		return nil, false
	}
	ks := Kernels()
	for i := len(ks) - 1; i >= 0; i-- {
		if k.atLeast(ks[i]) {
			b, err := programs.ReadFile(Path(runtime.GOARCH, name, ks[i]))
			return b, err == nil
		}
	}
	return nil, false
}

// running is the running kernel's version, from uname's release
// ("6.18.0-1-amd64").
func running() (Kernel, bool) {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return Kernel{}, false
	}
	return parseRelease(unix.ByteSliceToString(u.Release[:]))
}

func parseRelease(rel string) (Kernel, bool) {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return Kernel{}, false
	}
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	ma, err1 := strconv.ParseUint(parts[0], 10, 64)
	mi, err2 := strconv.ParseUint(minor, 10, 64)
	return Kernel{ma, mi}, err1 == nil && err2 == nil
}
