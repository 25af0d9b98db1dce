//go:build linux && cgo

package sandbox

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/gosandbox/sandbox/internal/launch"
	"github.com/gosandbox/sandbox/ns"
	"golang.org/x/sys/unix"
)

// Run runs cmd in a new sandbox and waits for it to end. See RunContext.
func Run(cmd *Cmd, opts ...Option) (*Result, error) {
	return RunContext(context.Background(), cmd, opts...)
}

// RunContext runs cmd in a new sandbox configured by opts and waits for it
// to end. When ctx is done first, the program and every process of its pid
// namespace are killed with SIGKILL: the Status is Canceled when ctx was
// cancelled, and Timeout when its deadline passed. ctx and WithTimeout
// cover the whole run from its first step, setup included: a launch that
// cannot finish is killed at the deadline, and RunContext returns a
// *SetupError that wraps context.DeadlineExceeded (or ctx's cause).
//
// The error is non-nil only when the sandbox could not be built or the
// program could not be started; the Result is then nil. The error is a
// *ConfigError for an invalid option or Cmd (nothing was started), an
// *ExecError matching ErrNotFound or ErrNotExecutable when the program cannot
// be executed inside the sandbox, a *GuestError (matching ErrNotExecutable)
// when strict mode refuses it, a *SetupError naming the stage, operation and
// path of a failed setup step (it unwraps to the errno; ErrStrictSetup when
// entering strict mode failed), or an *UnsupportedError (matching
// ErrUnsupported) when a protection that was asked for is not available
// here; ctx's error when ctx was done before the start. Otherwise the
// error is nil and the Result says how the program ended, whatever it did.
//
// RunContext is Start followed by Wait, on the caller's goroutine. It is
// safe to call from many goroutines at once.
func RunContext(ctx context.Context, cmd *Cmd, opts ...Option) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newProcess().run(ctx, cmd, c, nil, nil)
}

// Process is a program started in a sandbox by Start.
type Process struct {
	launched   chan struct{} // closed once the program runs, or its start failed
	launchOnce sync.Once
	startErr   error
	pid        int
	k          *killer
	done       chan struct{} // closed once the run is over
	res        *Result
	err        error
}

// Start starts cmd in a new sandbox configured by opts and returns once the
// program runs (or could not be started: the errors of RunContext). ctx
// covers the whole run, as for RunContext: done, it kills the sandbox.
// Call Wait for the Result; Start's resources are released there, or when
// the program ends (the copying of its output goes on until Wait).
func Start(ctx context.Context, cmd *Cmd, opts ...Option) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return start(ctx, cmd, c, nil, nil)
}

// start runs cmd under c, in a prepared child when pre is not nil, and
// returns once the program runs; ended (nil: none) is called once the
// sandbox is gone.
func start(ctx context.Context, cmd *Cmd, c *config, pre *prepared, ended func()) (*Process, error) {
	p := newProcess()
	go func() {
		res, err := p.run(ctx, cmd, c, pre, ended)
		p.launchOnce.Do(func() { p.startErr = err; close(p.launched) })
		p.res, p.err = res, err
		close(p.done)
	}()
	<-p.launched
	if p.startErr != nil {
		return nil, p.startErr
	}
	return p, nil
}

// newProcess is a Process before its start.
func newProcess() *Process {
	return &Process{launched: make(chan struct{}), done: make(chan struct{})}
}

// markLaunched is told by run that the program runs.
func (p *Process) markLaunched(pid int, k *killer) {
	p.launchOnce.Do(func() {
		p.pid, p.k = pid, k
		close(p.launched)
	})
}

// Pid returns the program's pid in the host's pid namespace (the caller's),
// or 0 when it ended before the sandbox's init could tell it.
func (p *Process) Pid() int { return p.pid }

// Signal sends sig to the program (not to the sandbox's init). It returns
// os.ErrProcessDone once the program has been reaped.
func (p *Process) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("sandbox: signal %v is not a syscall.Signal", sig)
	}
	return p.k.signal(s)
}

// Wait waits for the program to end, and for its output to be copied, and
// returns the Result, or the error of a run that failed after its start.
// It may be called more than once.
func (p *Process) Wait() (*Result, error) {
	<-p.done
	return p.res, p.err
}

// run is a whole run, from the configuration to the Result, in pre (a
// child prepared for c by a Pool) or else in a new child: prepare, start,
// supervise, collect. ended (nil: none) is called once the sandbox is
// gone, which for a Pool's run may be after run returns.
func (p *Process) run(ctx context.Context, cmd *Cmd, c *config, pre *prepared, ended func()) (*Result, error) {
	var r *runState
	defer func() {
		// The end of the sandbox: before run returns, or after for a
		// Pool's run whose init said that no process is left.
		end := func() {
			r.finish()
			if pre != nil {
				pre.discard()
			}
			if ended != nil {
				ended()
			}
		}
		if r != nil && r.initLeft {
			go end()
		} else {
			end()
		}
	}()
	if pre == nil {
		// The zygote's start overlaps with the set-up below.
		launch.Warm()
	}
	if c.lim.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.lim.timeout, &timeoutError{c.lim.timeout})
		defer cancel()
	}
	r, err := c.prepareRun(cmd, pre)
	if err != nil {
		return nil, err
	}
	if r.m.traced() {
		// The tracer is the thread that attaches (in start): start,
		// trace and wait on one locked thread.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if err := r.start(ctx, cmd, pre); err != nil {
		return nil, err
	}
	p.markLaunched(r.proc.Guest, r.k)
	ws, ru, err := r.supervise(ctx)
	return r.collect(ws, ru, err)
}

// runState is one run, as its phases fill it in.
type runState struct {
	c    *config
	m    mode
	res  *Result
	su   *setup
	k    *killer
	st   *stdio
	spec *launch.Spec
	// early: the Result may come at the init's report that no process
	// is left, before the init's exit and the namespaces' teardown:
	// a Pool's run, with a cgroup to account for it (the init's rusage
	// comes only with its exit), untraced.
	early bool
	// From the start on:
	proc     *launch.Process
	initLeft bool           // the init reported, and is left to finish to reap
	later    []func() error // closes left to finish
	viol     violations
	began    time.Time
	stopMode func()
}

// prepareRun makes everything the run needs before its child does
// anything: the mode and its filter, the cgroup and the idmapped trees (a
// prepared child's, or new), the output pipes, the child's steps.
func (c *config) prepareRun(cmd *Cmd, pre *prepared) (_ *runState, err error) {
	argv, env, candidates, err := c.checkCmd(cmd)
	if err != nil {
		return nil, err
	}
	m, warnings, err := c.newMode(len(cmd.ExtraFiles))
	if err != nil {
		return nil, err
	}
	r := &runState{c: c, m: m, res: &Result{SeccompMode: c.policy.mode, Warnings: warnings}, k: &killer{}}
	defer func() {
		if err != nil {
			r.release()
		}
	}()
	if pre != nil {
		r.su, pre.setup = pre.setup, nil
	} else if r.su, err = c.newSetup(); err != nil {
		return nil, err
	}
	r.res.Enforced = r.su.enforced
	if r.st, err = newStdio(cmd, c.lim.output, c.direct, func() { r.k.kill(OutputExceeded) }); err != nil {
		return nil, err
	}
	part := wholeLaunch
	if pre != nil {
		part = afterPark // the rest of a prepared child's launch
	}
	if r.spec, err = c.spec(cmd, m, r.st.fds, argv, env, candidates, r.su, part); err != nil {
		return nil, err
	}
	r.su.place(r.spec)
	r.early = pre != nil && r.su.grp != nil && !m.traced()
	return r, nil
}

// release gives back what prepareRun took: the cgroup, the trees, the
// pipes.
func (r *runState) release() {
	if r.st != nil {
		r.st.closeAll()
	}
	r.su.release()
}

// finish ends what is left of a run once its Result is known: the init,
// when it was left to reap, then what prepareRun took. A nil r is fine.
func (r *runState) finish() {
	if r == nil {
		return
	}
	if r.initLeft {
		_, _, _ = r.proc.Wait()
		r.proc.Release()
	}
	for _, f := range r.later {
		_ = f()
	}
	r.release()
}

// start launches the child (or resumes the prepared one) until the
// program runs, and starts watching it: the mode's part, the output, the
// limits.
func (r *runState) start(ctx context.Context, cmd *Cmd, pre *prepared) error {
	r.began = time.Now()
	var err error
	if pre != nil {
		r.proc, pre.proc = pre.proc, nil
		err = r.proc.Resume(ctx, r.spec)
	} else {
		r.proc, err = launch.Start(ctx, r.spec)
	}
	r.st.closeChildEnds()
	if err != nil {
		return launchError(cmd, err)
	}
	r.k.proc = r.proc
	if r.stopMode, err = r.m.follow(r); err != nil {
		r.proc.Abort()
		return err
	}
	r.st.start()
	return nil
}

// supervise waits for the program's end, under the limits' watch, and
// reaps the child.
func (r *runState) supervise(ctx context.Context) (ws unix.WaitStatus, ru unix.Rusage, err error) {
	stop := r.k.watch(ctx, &r.c.lim, r.su.grp)
	if err = r.m.wait(r); err == nil {
		if r.early {
			ws, r.initLeft = r.proc.Ended()
		}
		if !r.initLeft {
			ws, ru, err = r.proc.Wait()
		}
	} else {
		r.proc.Abort()
	}
	r.res.WallTime = time.Since(r.began)
	stop()
	r.stopMode()
	if !r.initLeft {
		r.proc.Release()
	}
	return ws, ru, err
}

// collect reads the accounting, ends what is left of the sandbox, waits
// for the output, and gives the verdict and the violations.
func (r *runState) collect(ws unix.WaitStatus, ru unix.Rusage, err error) (*Result, error) {
	res, grp := r.res, r.su.grp
	if grp != nil {
		res.CPUTime, _ = grp.CPU()
		res.PeakMemory, _ = grp.PeakMemory()
		if n, _ := grp.OOMKills(); n > 0 {
			res.Status = MemoryExceeded
		}
		if n, _ := grp.PidsLimitHits(); n > 0 {
			res.PidsLimitReached = true
		}
		if !r.c.namespaces.Has(ns.PID) {
			// Without a pid namespace the program's descendants may
			// live on, holding the output pipes that st.wait waits
			// on: the cgroup knows them all. (With one, the init's
			// end took them all; Release checks the group empty.)
			_ = grp.Kill()
		}
	} else {
		// Without a cgroup: the init's rusage, which counts every
		// process it reaped. Its ru_maxrss is the largest process's,
		// not the sandbox's, so PeakMemory stays 0.
		res.CPUTime = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	r.st.wait()
	r.st.stopStdin()
	if err != nil {
		return nil, &SetupError{Stage: "wait", Op: "wait4", Err: err}
	}
	res.OutputTruncated = r.st.truncated()
	// Without a cgroup (WithBestEffort), RLIMIT_CPU stands in for the
	// CPU-time limit.
	cpuByRlimit := grp == nil && r.c.lim.cpuTime > 0
	res.verdict(ws, r.k, r.m.killed(ws), cpuByRlimit, r.c.lim.cpuTime)
	r.m.report(r, res)
	res.Violations, res.ViolationCount = r.viol.list, r.viol.count
	return res, nil
}
