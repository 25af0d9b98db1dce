//go:build linux && cgo

package sandbox

import (
	"syscall"

	"github.com/gosandbox/sandbox/internal/filter"
	"github.com/gosandbox/sandbox/internal/launch"
	"github.com/gosandbox/sandbox/internal/ptrace"
	"github.com/gosandbox/sandbox/ns"
	"golang.org/x/sys/unix"
)

// A mode is how a run's seccomp policy is put in force and followed: the
// child's last steps, and the supervisor's part from the program's start
// to its end. One value serves one run. Adding a mode is one new type:
// unconfined, filtered (a profile: Docker's or the caller's), strict, and
// learning are the ones there are.
type mode interface {
	// steps adds the child's steps after the init (16-18 of the table of
	// config.spec): the filter or a tracer's seize, then the exec.
	steps(p *launch.Program, spec *launch.Spec, exe execStep)
	// traced says the program's tracer is the run's thread, which then
	// starts, follows and waits for it, locked.
	traced() bool
	// follow starts watching the program once it runs (a notifier, the
	// agent's hand-over, the injection of strict mode); stop ends that
	// once the program is reaped. An error leaves the child to be
	// aborted.
	follow(r *runState) (stop func(), err error)
	// wait follows the program to its end, as its tracer; modes that do
	// not trace return at once.
	wait(r *runState) error
	// killed says whether a program that ended with ws was killed by the
	// policy (a SeccompKilled verdict).
	killed(ws unix.WaitStatus) bool
	// report adds to r.viol what the mode learned of the denied calls
	// that only the end shows, once the verdict is res.Status.
	report(r *runState, res *Result)
}

// execStep is the program's exec: its description, the paths to try, argv
// and the environment.
type execStep struct {
	desc                  launch.Desc
	candidates, argv, env []string
}

// newMode is the mode of c's policy for one run that passes extraFiles
// fds beyond stdio, and the warnings of its profile.
func (c *config) newMode(extraFiles int) (mode, []string, error) {
	if c.policy == strictPolicy {
		return &strictMode{call: -1}, nil, nil
	}
	var prog *program
	switch {
	case c.learn != nil:
		prog = &program{bpf: filter.Learning(ptrace.AuditArch, uint32(3+extraFiles))}
	case c.policy.compile != nil:
		var err error
		if prog, err = c.policy.compile(); err != nil {
			return nil, nil, err
		}
	default:
		return unconfined{}, nil, nil
	}
	f := &filtered{prog: prog.guarded(c.namespaces.Has(ns.Net))}
	if f.kernelKills() {
		// Before the program starts: a kill at its first call must
		// not be missed.
		f.auditor = audit()
	}
	if c.learn != nil {
		return &learning{filtered: f, rec: c.learn}, nil, nil
	}
	return f, f.prog.warnings, nil
}

// unconfined is no filter at all.
type unconfined struct{}

func (unconfined) steps(p *launch.Program, _ *launch.Spec, exe execStep) {
	p.Exec(exe.desc, exe.candidates, exe.argv, exe.env)
}
func (unconfined) traced() bool                     { return false }
func (unconfined) follow(*runState) (func(), error) { return func() {}, nil }
func (unconfined) wait(*runState) error             { return nil }
func (unconfined) killed(unix.WaitStatus) bool      { return false }
func (unconfined) report(*runState, *Result)        {}

// filtered is a seccomp filter: the supervisor answers its denials
// through the notify variant where there is one, hands the listener to
// the profile's agent where it asks for one, and names the kills the
// kernel carries out from the audit records.
type filtered struct {
	prog    *program
	auditor *auditLog
	pidns   uint64 // the run's pid namespace, for its audit records
}

func (f *filtered) steps(p *launch.Program, _ *launch.Spec, exe execStep) {
	d := launch.Desc{Stage: "seccomp", Op: "install filter"}
	switch {
	case f.prog.notify != nil:
		// The filter comes last before execve, so that it judges only
		// the program, never the setup. Its errno returns notify the
		// supervisor, which answers with the same errno.
		p.Seccomp(d, f.prog.notify, true, f.prog.flags)
	case f.prog.agent != "":
		// The listener goes to the profile's agent (sendToAgent),
		// which answers its SCMP_ACT_NOTIFY calls.
		p.Seccomp(d, f.prog.bpf, true, f.prog.flags)
	default:
		p.Seccomp(d, f.prog.bpf, false, f.prog.flags)
	}
	p.Exec(exe.desc, exe.candidates, exe.argv, exe.env)
}

func (f *filtered) traced() bool { return false }

// kernelKills says the kernel carries out some kills of the filter:
// every one without a listener of the supervisor's, and with one the
// thread kills (no one can kill one thread of another process). They end
// a process with SIGSYS and are named by the audit records where they can
// be read (root).
func (f *filtered) kernelKills() bool { return f.prog.notify == nil || f.prog.threadKills }

func (f *filtered) follow(r *runState) (func(), error) {
	proc := r.proc
	if f.kernelKills() && r.c.namespaces.Has(ns.PID) {
		// The child's (the init's, or the program's without one): it
		// is ours to reap, so its pid is its own until then, where the
		// program may have ended already (and been reaped by its init).
		f.pidns = nsInode(proc.Pid, "pid")
	}
	switch {
	case proc.Listener != nil && f.prog.agent != "":
		// The runtime-spec's seccomp agent: it gets the listener and
		// the state, and answers the profile's SCMP_ACT_NOTIFY calls.
		err := sendToAgent(f.prog.agent, f.prog.agentMetadata, proc.Guest, proc.Listener)
		proc.Listener.Close()
		if err != nil {
			// Unanswered, the program's NOTIFY calls would wait for
			// ever.
			return nil, &SetupError{Stage: "seccomp", Op: "send the listener to the agent", Path: f.prog.agent, Err: err}
		}
	case proc.Listener != nil:
		mainPid := proc.Guest
		n, err := startNotifier(proc.Listener, f.prog.machine, &r.viol, func(pid int) {
			if pid == mainPid {
				r.k.seccompKilled()
			}
		})
		if err != nil {
			// Unanswered, the program's denied calls would block
			// for ever.
			return nil, &SetupError{Stage: "seccomp", Op: "start the notifier", Err: err}
		}
		// Once every process with the filter is gone, no call is left
		// to answer.
		return func() {
			if r.initLeft && n.ended() {
				// Every process with the filter is reaped: the
				// loop ended on its own. The listener's close,
				// which frees the filter (and its JIT image,
				// dear on a virtual machine), is left to the
				// run's finish.
				r.later = append(r.later, n.lst.Close)
				return
			}
			n.stop()
		}, nil
	}
	return func() {}, nil
}

func (f *filtered) wait(*runState) error { return nil }

// killed: every filter can kill: its kill actions and its bad-arch
// action end the process with SIGSYS. (The notifier's kills are
// SIGKILLs the killer knows of.)
func (f *filtered) killed(ws unix.WaitStatus) bool {
	return f.kernelKills() && ws.Signaled() && ws.Signal() == syscall.SIGSYS
}

func (f *filtered) report(r *runState, res *Result) {
	if !f.kernelKills() {
		return
	}
	died := res.Status == SeccompKilled && !r.k.seccomp
	for _, v := range kernelKillViolations(f.auditor, r.proc.Guest, f.pidns, died, f.prog.threadKills) {
		r.viol.add(v)
	}
}
