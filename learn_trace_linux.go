//go:build linux && cgo

package sandbox

import (
	"github.com/gosandbox/sandbox/internal/launch"
	"github.com/gosandbox/sandbox/internal/ptrace"
)

// learning is a learning run: its filter's traps stop the program, and
// every process and thread it makes, for the run's thread, their tracer,
// which records each call (ptrace.Follow). Its kills (a foreign ABI) are
// a filter's.
type learning struct {
	*filtered
	rec *learned
}

func (l *learning) steps(p *launch.Program, spec *launch.Spec, exe execStep) {
	spec.Trace = ptrace.FollowOptions
	p.Tracee(launch.Desc{Stage: "learn", Op: "PTRACE_SEIZE"})
	p.Seccomp(launch.Desc{Stage: "seccomp", Op: "install filter"}, l.prog.bpf, false, l.prog.flags)
	p.Exec(exe.desc, exe.candidates, exe.argv, exe.env)
}

func (*learning) traced() bool { return true }

func (l *learning) wait(r *runState) error {
	return ptrace.Follow(r.proc.Guest, func(arch uint32, nr int32) { l.rec.add(call{arch, nr}) })
}
