//go:build linux && cgo

package sandbox

import (
	"fmt"

	"github.com/gosandbox/sandbox/internal/filter"
	"github.com/gosandbox/sandbox/internal/launch"
	"github.com/gosandbox/sandbox/internal/ptrace"
	"golang.org/x/sys/unix"
)

// strictMode is SECCOMP_MODE_STRICT, entered by the run's thread, the
// program's tracer, at the program's exec stop (WithStrict).
type strictMode struct {
	call int // the call strict mode killed the program in, or -1
}

func (*strictMode) steps(p *launch.Program, spec *launch.Spec, exe execStep) {
	// Strict mode is entered at the exec stop (follow).
	spec.Trace = ptrace.StrictOptions
	p.Tracee(launch.Desc{Stage: "strict", Op: "PTRACE_SEIZE"})
	p.ExecStatic(exe.desc, exe.candidates, exe.argv, exe.env)
}

func (*strictMode) traced() bool { return true }

func (*strictMode) follow(r *runState) (func(), error) {
	if err := ptrace.EnterStrict(r.proc.Guest); err != nil {
		return nil, &SetupError{Stage: "strict", Op: "enter strict mode", Err: fmt.Errorf("%w: %w", ErrStrictSetup, err)}
	}
	return func() {}, nil
}

func (s *strictMode) wait(r *runState) (err error) {
	s.call, err = ptrace.WaitStrict(r.proc.Guest)
	return err
}

// killed: strict mode kills with SIGKILL inside the forbidden call (the
// exit stop showed it).
func (s *strictMode) killed(ws unix.WaitStatus) bool {
	return s.call >= 0 && ws.Signaled() && ws.Signal() == unix.SIGKILL
}

func (s *strictMode) report(r *runState, res *Result) {
	if s.call < 0 || res.Status != SeccompKilled {
		return
	}
	name, abi := filter.SyscallName(ptrace.AuditArch, s.call)
	if name == "" {
		name = "unknown"
	}
	r.viol.add(Violation{Syscall: name, Number: s.call, Arch: abi, Action: ActionKill, Source: SourcePtrace})
}
