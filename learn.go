//go:build linux && cgo

package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gosandbox/sandbox/internal/filter"
	"golang.org/x/sys/unix"
)

// Learn runs cmd with every system call allowed but recorded, and returns
// a minimal Docker-format profile for it: defaultAction SCMP_ACT_ERRNO
// (EPERM), allowing exactly the calls the program (and its descendants)
// made plus what exec needs (execve and exit_group, and read, write and
// close, with which the launcher hands over a filter's listener), names
// sorted, no argument constrained. Running the same
// program under that profile (WithProfile) succeeds with no violation; a
// call it did not make while learning is denied and reported.
//
// The learning filter traps every call (SECCOMP_RET_TRACE) and the
// supervisor, the program's tracer, records it and lets it go ahead: a
// ptrace stop, which no signal cuts short, so the program behaves as it
// would unwatched, only slower. New processes and threads are traced from
// birth. opts are as for Run, but for a seccomp policy, which Learn sets
// itself.
func Learn(cmd *Cmd, opts ...Option) (profile []byte, res *Result, err error) {
	return LearnContext(context.Background(), cmd, opts...)
}

// LearnContext is Learn with a context, as RunContext.
func LearnContext(ctx context.Context, cmd *Cmd, opts ...Option) (profile []byte, res *Result, err error) {
	rec := &learned{calls: map[call]bool{}}
	res, err = RunContext(ctx, cmd, append(opts, func(c *config) error {
		c.learn = rec
		return setPolicy(c, "Learn", learnPolicy)
	})...)
	if err != nil {
		return nil, nil, err
	}
	profile, err = rec.profile()
	return profile, res, err
}

// learnPolicy marks a learning run; its filter is made per run (learnFilter).
var learnPolicy = &policy{mode: Learning}

// learnedProfile is the Docker profile format, as much of it as Learn
// writes.
type learnedProfile struct {
	DefaultAction   string        `json:"defaultAction"`
	DefaultErrnoRet int           `json:"defaultErrnoRet"`
	Architectures   []string      `json:"architectures"`
	Syscalls        []learnedRule `json:"syscalls"`
}

type learnedRule struct {
	Names  []string `json:"names"`
	Action string   `json:"action"`
}

var scmpArches = map[string]string{"x86_64": "SCMP_ARCH_X86_64", "x86": "SCMP_ARCH_X86", "x32": "SCMP_ARCH_X32",
	"aarch64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM"}

// profile writes the profile of what was recorded.
func (l *learned) profile() ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	arches := []string{scmpArches[abiNative()]}
	// What exec needs: execve and exit_group, which the learning filter
	// lets through unrecorded, and the calls with which the launcher
	// hands the supervisor the listener of a profile's filter, so that
	// its denials are reported.
	names := []string{"execve", "exit_group", "read", "write", "close"}
	for c := range l.calls {
		name, abi := filter.SyscallName(c.arch, int(c.nr))
		if name == "" {
			return nil, fmt.Errorf("sandbox: learn: the program called %d on %s, which libseccomp cannot name", c.nr, abi)
		}
		names = append(names, name)
		if a, ok := scmpArches[abi]; ok && !slices.Contains(arches, a) {
			arches = append(arches, a)
		}
	}
	slices.Sort(names)
	slices.Sort(arches[1:])
	p := learnedProfile{
		DefaultAction:   "SCMP_ACT_ERRNO",
		DefaultErrnoRet: int(unix.EPERM),
		Architectures:   arches,
		Syscalls:        []learnedRule{{Names: slices.Compact(names), Action: "SCMP_ACT_ALLOW"}},
	}
	return json.MarshalIndent(p, "", "  ")
}
