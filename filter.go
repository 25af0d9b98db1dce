//go:build linux && cgo

package sandbox

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/gosandbox/sandbox/internal/builtin"
	"github.com/gosandbox/sandbox/internal/filter"
	"github.com/gosandbox/sandbox/internal/ptrace"
	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var (
	dockerDefaultPolicy = &policy{mode: DockerDefault, compile: sync.OnceValues(func() (*program, error) {
		return builtinProgram(builtin.DockerDefault)
	})}
	dockerDefaultKillPolicy = &policy{mode: DockerDefaultKill, compile: sync.OnceValues(func() (*program, error) {
		return builtinProgram(builtin.DockerDefaultKill)
	})}
)

// noCaps is the container Docker's loader resolves a profile for: one with
// no capabilities, which is what the sandbox's program has.
func noCaps() *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
}

// builtinProgram is the built-in profile name, compiled ahead of time for
// this architecture and kernel (internal/builtin), or where none was,
// resolved and compiled now.
func builtinProgram(name string) (*program, error) {
	var f *filter.Filter
	var err error
	if b, ok := builtin.Program(name); ok {
		f, err = filter.FromProgram(b)
	} else if p, perr := builtin.Profile(name); perr != nil {
		err = perr
	} else {
		f, err = filter.Compile(p)
	}
	if err != nil {
		return nil, &ConfigError{Input: name, Err: err}
	}
	return newProgram(name, f)
}

// newProgram is a compiled filter that the launch can work under: a filter
// that denies what the launcher calls after installing it could neither
// start the program nor report why.
func newProgram(input string, f *filter.Filter) (*program, error) {
	denied, err := filter.LaunchDenied(f.BPF)
	if err != nil {
		return nil, &ConfigError{Input: input, Err: err}
	}
	if len(denied) > 0 {
		e := &LaunchDeniedError{}
		for _, d := range denied {
			e.Calls = append(e.Calls, Violation{Syscall: d.Name, Number: int(d.Nr), Arch: abiNative(), Action: actionOf(d.Ret), Source: SourceProfile})
		}
		return nil, &ConfigError{Input: input, Err: fmt.Errorf("%w: %w", filter.ErrProfile, e)}
	}
	p := &program{bpf: f.BPF, notify: f.Notify, flags: f.Flags, threadKills: f.ThreadKills, agent: f.ListenerPath, agentMetadata: f.ListenerMetadata}
	for _, s := range f.Skipped {
		p.warnings = append(p.warnings, input+": "+s)
	}
	return p, nil
}

// actionOf names the action of a SECCOMP_RET_* verdict.
func actionOf(ret uint32) ViolationAction {
	switch ret & 0xffff0000 {
	case unix.SECCOMP_RET_ERRNO:
		return ActionErrno
	case unix.SECCOMP_RET_KILL_PROCESS:
		return ActionKill
	case unix.SECCOMP_RET_KILL_THREAD:
		return ActionKillThread
	case unix.SECCOMP_RET_TRAP:
		return ActionTrap
	case unix.SECCOMP_RET_TRACE:
		return ActionTrace
	}
	return ActionNotify // SECCOMP_RET_USER_NOTIF: nothing else denies
}

// guarded is p behind the sandbox's own additions to every filter
// (filter.Guard): TIOCSTI and TIOCLINUX denied, and with noVsock (a
// network of its own) AF_VSOCK sockets, which a network namespace does not
// confine.
// Made once per program and variant: compiled programs are shared.
func (p *program) guarded(noVsock bool) *program {
	i := 0
	if noVsock {
		i = 1
	}
	p.guardOnce[i].Do(func() {
		g := &program{bpf: filter.Guard(p.bpf, noVsock, 0), flags: p.flags, warnings: p.warnings,
			threadKills: p.threadKills, agent: p.agent, agentMetadata: p.agentMetadata}
		if p.notify != nil {
			g.notify = filter.Guard(p.notify, noVsock, unix.SECCOMP_RET_USER_NOTIF)
		}
		p.guard[i] = g
	})
	return p.guard[i]
}

// machine returns the notifier's VM of p.bpf, made once.
func (p *program) machine() (*filter.VM, error) {
	p.vmOnce.Do(func() { p.vm, p.vmErr = filter.NewVM(p.bpf) })
	vm, _ := p.vm.(*filter.VM)
	return vm, p.vmErr
}

// profileCache holds compiled custom profiles by the hash of their JSON.
var profileCache struct {
	sync.Mutex
	m map[[32]byte]*program
}

const profileCacheSize = 128

// releaseProfiles empties the cache of compiled profiles.
func releaseProfiles() {
	profileCache.Lock()
	defer profileCache.Unlock()
	profileCache.m = nil
}

// customPolicy parses and compiles a Docker-format profile, or takes it from
// the cache.
func customPolicy(input string, json []byte) (*policy, error) {
	key := sha256.Sum256(json)
	profileCache.Lock()
	prog := profileCache.m[key]
	profileCache.Unlock()
	if prog == nil {
		f, err := compileProfile(json)
		if err != nil {
			return nil, &ConfigError{Input: input, Err: err}
		}
		if prog, err = newProgram(input, f); err != nil {
			return nil, err
		}
		profileCache.Lock()
		if profileCache.m == nil || len(profileCache.m) >= profileCacheSize {
			profileCache.m = make(map[[32]byte]*program)
		}
		profileCache.m[key] = prog
		profileCache.Unlock()
	}
	return &policy{mode: Custom, compile: func() (*program, error) { return prog, nil }}, nil
}

// compileProfile resolves a Docker-format profile as Docker does and
// compiles it.
func compileProfile(json []byte) (*filter.Filter, error) {
	p, err := seccomp.LoadProfile(string(json), noCaps())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", filter.ErrProfile, err)
	}
	if p == nil {
		return nil, fmt.Errorf("%w: no defaultAction and no syscalls", filter.ErrProfile)
	}
	return filter.Compile(p)
}

// abiNative is the name of the native ABI, as a Violation's Arch.
func abiNative() string {
	_, abi := filter.SyscallName(ptrace.AuditArch, 0)
	return abi
}
