//go:build linux && cgo

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gosandbox/sandbox/internal/cgroup"
	"github.com/gosandbox/sandbox/internal/filter"
	"github.com/gosandbox/sandbox/internal/launch"
	"github.com/gosandbox/sandbox/ns"
	"github.com/gosandbox/sandbox/rootfs"
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
// entering strict mode failed), or an error matching ErrUnsupported when a
// protection that was asked for is not available; ctx's error when ctx was
// done before the start. Otherwise the
// error is nil and the Result says how the program ended, whatever it did.
//
// RunContext is Start followed by Wait. It is safe to call from many
// goroutines at once.
func RunContext(ctx context.Context, cmd *Cmd, opts ...Option) (*Result, error) {
	p, err := Start(ctx, cmd, opts...)
	if err != nil {
		return nil, err
	}
	return p.Wait()
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
	p := &Process{launched: make(chan struct{}), done: make(chan struct{})}
	go func() {
		res, err := p.run(ctx, cmd, opts)
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

// run is a whole run, from the options to the Result.
func (p *Process) run(ctx context.Context, cmd *Cmd, opts []Option) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if c.lim.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.lim.timeout, &timeoutError{c.lim.timeout})
		defer cancel()
	}
	argv, env, candidates, err := c.checkCmd(cmd)
	if err != nil {
		return nil, err
	}
	var prog *program
	if c.policy.compile != nil {
		if prog, err = c.policy.compile(); err != nil {
			return nil, err
		}
	}
	if c.learn != nil {
		prog = &program{bpf: filter.Learning(auditArchNative, uint32(3+len(cmd.ExtraFiles)))}
	}
	if prog != nil {
		prog = prog.guarded(c.namespaces.Has(ns.Net))
	}
	res := &Result{SeccompMode: c.policy.mode}
	if prog != nil {
		res.Warnings = prog.warnings
	}
	grp, rlimits, err := c.resources(res)
	if err != nil {
		return nil, err
	}
	if grp != nil {
		// Back to the pool once the run is over: checked empty first.
		defer grp.Release()
	}
	k := &killer{}
	st, err := newStdio(cmd, c.lim.output, c.direct, func() { k.kill(OutputExceeded) })
	if err != nil {
		return nil, err
	}
	defer st.closeAll()
	strict := c.policy == strictPolicy
	// Strict mode and learning trace the program: its tracer is the
	// thread that attaches (in Start), so start, trace and wait on one
	// locked thread.
	traced := strict || c.learn != nil

	// The read-write binds, idmapped to the caller where they can be
	// (as root): captured here, in the initial user namespace.
	hostUID, hostGID := c.root.UID, c.root.GID
	if c.namespaces.Has(ns.User) {
		m := ns.MapsFor(c.root.UID, c.root.GID, os.Geteuid(), os.Getegid())
		hostUID, hostGID = m.UID.Outside, m.GID.Outside
	}
	trees, err := c.idmapped(res, hostUID, hostGID)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range trees {
			f.Close() // the launcher has its own copy, or is gone
		}
	}()
	spec, err := c.spec(cmd, prog, st.fds, argv, env, candidates, rlimits, trees)
	if err != nil {
		return nil, err
	}
	if grp != nil {
		// Into its cgroup before its first step, so that everything it
		// does is counted and its cgroup namespace is rooted there: made
		// in it on v2 (CLONE_INTO_CGROUP), moved into it otherwise.
		spec.Cgroup = grp.Dir()
		spec.Prepare = grp.Add
	}
	if traced {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	start := time.Now()
	proc, err := launch.Start(ctx, spec)
	st.closeChildEnds()
	if err == nil && strict {
		if err = enterStrict(proc.Guest); err != nil {
			proc.Abort()
		}
	}
	if err != nil {
		return nil, launchError(cmd, err)
	}
	k.proc = proc
	var viol violations
	var auditor *auditLog
	// With a listener the supervisor answers the filter's denials and
	// kills itself; without, the kernel kills (SIGSYS), and the audit
	// records name the call where they can be read (root).
	kernelKills := prog != nil && proc.Listener == nil
	if kernelKills {
		auditor = audit()
	}
	stopNotifier := func() {}
	if proc.Listener != nil {
		mainPid := proc.Guest
		n, err := startNotifier(proc.Listener, prog.bpf, &viol, func(pid int) {
			if pid == mainPid {
				k.seccompKilled()
			}
		})
		if err != nil {
			// Unanswered, the program's denied calls would block
			// for ever.
			proc.Listener.Close()
			proc.Abort()
			return nil, &SetupError{Stage: "seccomp", Op: "start the notifier", Err: err}
		}
		stopNotifier = n.stop
	}
	st.start()
	stop := k.watch(ctx, &c.lim, grp)
	p.markLaunched(proc.Guest, k)

	var ws unix.WaitStatus
	var ru unix.Rusage
	strictCall := -1
	switch {
	case strict:
		strictCall, err = waitStrict(proc.Guest)
	case c.learn != nil:
		err = traceLearn(proc.Guest, c.learn)
	}
	if err == nil {
		ws, ru, err = proc.Wait()
	} else {
		proc.Abort()
	}
	res.WallTime = time.Since(start)
	stop()
	// Every process with the filter is gone: no call is left to answer.
	stopNotifier()
	proc.Release()
	if grp != nil {
		res.CPUTime, _ = grp.CPU()
		res.PeakMemory, _ = grp.PeakMemory()
		if n, _ := grp.OOMKills(); n > 0 {
			res.Status = MemoryExceeded
		}
		if n, _ := grp.PidsLimitHits(); n > 0 {
			res.PidsLimitReached = true
		}
		// Without a pid namespace the program's descendants may live
		// on, holding the output pipes that st.wait waits on: the
		// cgroup knows them all.
		_ = grp.Kill()
	} else {
		// rusage's ru_maxrss would be no measure: until execve the
		// launcher runs in the caller's address space (CLONE_VM), and
		// the kernel counts that mm's peak in it.
		res.CPUTime = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	st.wait()
	st.stopStdin()
	if err != nil {
		return nil, &SetupError{Stage: "wait", Op: "wait4", Err: err}
	}
	res.OutputTruncated = st.truncated()
	// Without a cgroup (WithBestEffort), RLIMIT_CPU stands in for the
	// CPU-time limit.
	cpuByRlimit := grp == nil && c.lim.cpuTime > 0
	res.verdict(ws, k, kernelKills, strictCall >= 0, cpuByRlimit, c.lim.cpuTime)
	switch {
	case res.Status != SeccompKilled:
	case strictCall >= 0:
		viol.add(strictViolation(strictCall))
	case kernelKills:
		viol.add(killViolation(auditor, proc.Guest))
	}
	res.Violations, res.ViolationCount = viol.list, viol.count
	return res, nil
}

// strictViolation is the call strict mode killed the program in, as the
// exit stop showed it (waitStrict).
func strictViolation(nr int) Violation {
	name, abi := filter.SyscallName(auditArchNative, nr)
	if name == "" {
		name = "unknown"
	}
	return Violation{Syscall: name, Number: nr, Arch: abi, Action: "kill", Source: "ptrace"}
}

// verdict sets Status, ExitCode and Signal from the wait status and what
// the supervisor saw, in the precedence documented on Result. A
// MemoryExceeded status is set already. kernelKills says a seccomp filter
// was installed whose kills the kernel carries out, strictKill that strict
// mode's exit stop showed a forbidden call, cpuByRlimit that RLIMIT_CPU
// enforced the CPU-time limit cpuTime.
func (res *Result) verdict(ws unix.WaitStatus, k *killer, kernelKills, strictKill, cpuByRlimit bool, cpuTime time.Duration) {
	var st Status
	switch {
	case ws.Exited():
		st, res.ExitCode = Exited, ws.ExitStatus()
	case ws.Signaled():
		st, res.Signal, res.ExitCode = Signaled, ws.Signal(), 128+int(ws.Signal())
		res.CoreDumped = ws.CoreDump()
		switch {
		case ws.Signal() == syscall.SIGKILL && k.seccomp:
			// The supervisor carried out a kill action of the
			// filter: reported as the kernel's would be.
			st, res.Signal, res.ExitCode = SeccompKilled, syscall.SIGSYS, 128+int(syscall.SIGSYS)
		case ws.Signal() == syscall.SIGKILL && k.killed:
			// The supervisor's own kill ended it.
			st = k.reason
		case ws.Signal() == syscall.SIGSYS && kernelKills:
			// Every filter can kill: its kill actions and its
			// bad-arch action end the process with SIGSYS.
			st = SeccompKilled
		case ws.Signal() == syscall.SIGKILL && strictKill:
			// Strict mode kills with SIGKILL inside the forbidden
			// call (waitStrict saw it at the exit stop).
			st = SeccompKilled
		case ws.Signal() == syscall.SIGKILL && cpuByRlimit && res.CPUTime >= cpuTime:
			// RLIMIT_CPU kills with SIGKILL at its hard limit, the
			// limit rounded up to whole seconds.
			st = CPUTimeExceeded
		}
	}
	switch {
	case res.Status == MemoryExceeded:
	case res.OutputTruncated:
		res.Status = OutputExceeded
	default:
		res.Status = st
	}
}

// killer kills the sandbox for the supervisor and remembers why.
type killer struct {
	mu     sync.Mutex
	proc   *launch.Process
	done   bool   // the program is reaped: its pidfd is going away
	killed bool   // the supervisor sent SIGKILL
	reason Status // the limit of the first kill, or Canceled
	// seccomp says the notifier killed the program for a kill action
	// of the filter.
	seccomp bool
}

// signal sends sig to the program, while it is not reaped.
func (k *killer) signal(sig syscall.Signal) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done || k.proc == nil {
		return os.ErrProcessDone
	}
	return k.proc.Signal(sig)
}

// seccompKilled records that the notifier killed the program for a kill
// action.
func (k *killer) seccompKilled() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.killed {
		k.seccomp = true
	}
}

// kill sends SIGKILL to the program; killing the pid namespace's init
// kills every process in it.
func (k *killer) kill(reason Status) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done || k.proc == nil {
		return
	}
	if !k.killed {
		k.reason = reason
	}
	k.killed = true
	_ = k.proc.Kill()
}

// watch starts the supervisor's watchers (the context, which carries the
// wall-clock limit, and the CPU time) and returns the function that stops
// them once the program is reaped; after it no kill is sent.
func (k *killer) watch(ctx context.Context, lim *limits, grp *cgroup.Group) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	stopCtx := context.AfterFunc(ctx, func() {
		reason := Canceled
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			reason = Timeout
		}
		k.kill(reason)
	})
	if grp != nil && lim.cpuTime > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watchCPU(grp, lim.cpuTime, quit, k)
		}()
	}
	return func() {
		stopCtx()
		k.mu.Lock()
		k.done = true
		k.mu.Unlock()
		close(quit)
		wg.Wait()
	}
}

// timeoutError is the cause of a run's context when WithTimeout ran out.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string {
	return "the time limit (WithTimeout " + e.d.String() + ") ran out"
}

// Unwrap returns context.DeadlineExceeded.
func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

// watchCPU kills the sandbox once its cgroup has used limit of CPU time.
// It sleeps for the least time the rest could take with every CPU busy, so
// it wakes rarely while much is left and kills within a millisecond or so.
func watchCPU(grp *cgroup.Group, limit time.Duration, quit <-chan struct{}, k *killer) {
	ncpu := time.Duration(runtime.NumCPU())
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		used, err := grp.CPU()
		if err != nil {
			return
		}
		if used >= limit {
			k.kill(CPUTimeExceeded)
			return
		}
		t.Reset(max((limit-used)/ncpu, time.Millisecond))
	}
}

// ReleaseCgroups removes the cgroups this process keeps ready for reuse
// (made for runs with memory, pids, CPU-time or CPU limits). Call it at
// shutdown; groups of a run still going are left, and removed by the next
// process that finds their supervisor gone. A later run makes new ones.
func ReleaseCgroups() error {
	h, err := hierarchy()
	if err != nil {
		return nil // none were made
	}
	if err := h.Close(); err != nil {
		return fmt.Errorf("sandbox: removing pooled cgroups: %w", err)
	}
	return nil
}

// PooledCgroups returns the directories of the cgroups this process keeps
// ready for reuse, all empty.
func PooledCgroups() []string {
	h, err := hierarchy()
	if err != nil {
		return nil
	}
	return h.FreeDirs()
}

// hierarchy is this process's cgroup hierarchy, found and prepared once.
var hierarchy = sync.OnceValues(func() (*cgroup.Hierarchy, error) {
	h, err := cgroup.Detect("/proc/self/mountinfo", "/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	if err := h.Prepare(); err != nil {
		return nil, err
	}
	return h, nil
})

// resources acquires the cgroup the limits need, or picks the rlimits
// that stand in for it under WithBestEffort, and records in res what
// enforces each limit.
func (c *config) resources(res *Result) (*cgroup.Group, []rlimit, error) {
	l := &c.lim
	var rl []rlimit
	enforce := func(limit, mechanism string) {
		res.Enforced = append(res.Enforced, Enforcement{Limit: limit, Mechanism: mechanism})
	}
	if l.timeout > 0 {
		enforce("timeout", "supervisor")
	}
	if l.output > 0 {
		enforce("output", "supervisor")
	}
	byRlimit := func(limit string, resource int, v int64) {
		if v > 0 {
			rl = append(rl, rlimit{resource, uint64(v), uint64(v)})
			enforce(limit, "rlimit")
		}
	}
	// No core dumps unless the program raises the limit itself (up to
	// the caller's hard limit): a core is the program's memory, written
	// where core_pattern says.
	var core unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_CORE, &core) == nil {
		rl = append(rl, rlimit{unix.RLIMIT_CORE, 0, core.Max})
	}
	byRlimit("file-size", unix.RLIMIT_FSIZE, l.fileSize)
	byRlimit("open-files", unix.RLIMIT_NOFILE, l.openFiles)
	if l.cpus != "" {
		// Bad input, whatever enforces it: never excused by best effort.
		if err := checkCPUs(l.cpus); err != nil {
			return nil, nil, &ConfigError{Input: "WithCPUs(" + l.cpus + ")", Err: err}
		}
	}
	h, err := hierarchy()
	var grp *cgroup.Group
	if err == nil {
		grp, err = h.Acquire(cgroup.Limits{Memory: l.memory, Pids: l.pids, CPUs: l.cpus})
	}
	if err != nil && !l.needCgroup() {
		// Only for the accounting (CPU time, peak memory): go on
		// without.
		return nil, rl, nil
	}
	if err != nil {
		if !l.bestEffort {
			return nil, nil, &ConfigError{Input: "limits", Err: fmt.Errorf("%w: %w", ErrUnsupported, err)}
		}
		// The stand-ins, per process rather than per sandbox.
		byRlimit("memory", unix.RLIMIT_AS, l.memory)
		byRlimit("pids", unix.RLIMIT_NPROC, l.pids)
		byRlimit("cpu-time", unix.RLIMIT_CPU, int64((l.cpuTime+time.Second-1)/time.Second))
		if l.cpus != "" {
			enforce("cpus", "none")
		}
		return nil, rl, nil
	}
	mech := grp.Version().String()
	for _, on := range []struct {
		set  bool
		name string
	}{{l.memory > 0, "memory"}, {l.pids > 0, "pids"}, {l.cpuTime > 0, "cpu-time"}, {l.cpus != "", "cpus"}} {
		if on.set {
			enforce(on.name, mech)
		}
	}
	return grp, rl, nil
}

// checkCPUs says which CPUs of list (checked well-formed) the caller may
// not use itself: the sandbox's cpuset is a part of the caller's.
func checkCPUs(list string) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return err
	}
	var outside []string
	for _, r := range strings.Split(list, ",") {
		lo, hi, _ := strings.Cut(r, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if hi != "" {
			b, _ = strconv.Atoi(hi)
		}
		for cpu := a; cpu <= b && len(outside) < 8; cpu++ {
			if cpu >= len(allowed)*64 || !allowed.IsSet(cpu) {
				outside = append(outside, strconv.Itoa(cpu))
			}
		}
	}
	if len(outside) > 0 {
		return fmt.Errorf("CPUs %s are not the caller's to use", strings.Join(outside, ","))
	}
	return nil
}

// rlimit is a resource limit set in the child.
type rlimit struct {
	resource int
	cur, max uint64
}

// launchError turns a launcher failure into the package's error types.
func launchError(cmd *Cmd, err error) error {
	var se *launch.StepError
	if !errors.As(err, &se) {
		return &SetupError{Stage: "launch", Op: "start", Err: err}
	}
	if se.Stage == "exec" && se.Op == "execve" {
		if reason, ok := guestReasons[se.Err]; ok {
			return &GuestError{Name: cmd.Path, Reason: reason}
		}
		return &ExecError{Name: cmd.Path, Err: se.Err}
	}
	out := &SetupError{Stage: se.Stage, Op: se.Op, Path: se.Path, Err: se.Err}
	if se.Stage == "workdir" && errors.Is(se.Err, unix.EACCES) {
		// The ownership rule, said where it bites.
		out.Err = fmt.Errorf("%w: the sandbox user may not enter it: a read-write bind is used as the caller's own (an idmapped mount, as root) only where the filesystem supports it and the directory is the caller's; otherwise as the sandbox user's (host uid 65534 as root, the caller rootless)", se.Err)
	}
	if se.Stage == "clone" && (errors.Is(se.Err, unix.EPERM) || errors.Is(se.Err, unix.ENOSPC) || errors.Is(se.Err, unix.EINVAL) || errors.Is(se.Err, unix.EUSERS)) {
		// No namespaces for us: user namespaces are off, or too many.
		return errors.Join(ErrUnsupported, out)
	}
	return out
}

// guestReasons say why strict mode refused a program.
var guestReasons = map[error]string{
	launch.ErrScript:  "a script (#!), not a static executable",
	launch.ErrNotELF:  "not an ELF executable",
	launch.ErrArch:    "an ELF executable for another architecture",
	launch.ErrDynamic: "a dynamic executable (it names an interpreter, PT_INTERP)",
}

var lastCap = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return 63 // the launcher skips the ones the kernel does not have
})

// Securebits that make root inside the sandbox no more than any user:
// executing a program grants no capabilities, a uid change never restores
// any, and neither can be undone.
const lockedSecurebits = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<5 // NOROOT(+LOCKED), NO_SETUID_FIXUP(+LOCKED), KEEP_CAPS_LOCKED

// spec builds the launch: clone flags, id maps and the child's steps.
func (c *config) spec(cmd *Cmd, prog *program, fds []int32, argv, env, candidates []string, rlimits []rlimit, trees map[string]*os.File) (*launch.Spec, error) {
	p := &launch.Program{}
	d := func(stage, op, path string) launch.Desc { return launch.Desc{Stage: stage, Op: op, Path: path} }
	uid, gid := c.root.UID, c.root.GID
	userns := c.namespaces.Has(ns.User)
	// Fresh namespaces: with its own pid namespace the program is its
	// init, so every process it leaves dies with it and none of the host
	// is visible to ptrace or kill (threats 7, 15, 16).
	spec := &launch.Spec{CloneFlags: c.namespaces.CloneFlags() &^ unix.CLONE_NEWCGROUP, Program: p}
	var maps ns.Maps
	if userns {
		// Never host root: the sandbox user maps to an unprivileged
		// host id, so an escape lands as nobody (or as the caller).
		maps = ns.MapsFor(uid, gid, os.Geteuid(), os.Getegid())
		spec.UIDMap, spec.GIDMap, spec.DenySetgroups = maps.UID.String(), maps.GID.String(), maps.DenySetgroups
	}

	if c.namespaces.Has(ns.Cgroup) {
		// The cgroup namespace is made now, after the parent moved the
		// child into its cgroup: rooted there, it shows nothing of the
		// host's cgroup tree.
		p.Unshare(d("cgroup", "unshare", ""), unix.CLONE_NEWCGROUP)
	}
	// A new session: no controlling terminal of the host, so TIOCSTI
	// cannot push keystrokes into the caller's shell (CVE-2017-5226).
	p.Setsid(d("credentials", "setsid", ""))
	// The caller's process state is not the program's: umask 022 (a
	// caller's 0 would make the program's files world-writable), and
	// default scheduling in its own cpuset, placed there already.
	p.Umask(d("process", "umask", ""), 0o022)
	p.ResetSched(d("process", "reset scheduling", ""))
	creds := func() {
		if !maps.DenySetgroups {
			// No supplementary group of the caller's survives.
			p.Setgroups(d("credentials", "setgroups", ""))
		}
		p.Setresgid(d("credentials", "setresgid "+strconv.FormatUint(uint64(gid), 10), ""), gid)
		p.Setresuid(d("credentials", "setresuid "+strconv.FormatUint(uint64(uid), 10), ""), uid)
	}
	var plan []rootfs.Step
	if c.namespaces.Has(ns.Mount) {
		if !userns {
			// Without a user namespace the new mount namespace
			// still shares propagation with the host: cut it, so
			// no mount of ours shows up there.
			p.Mount(d("root", "mount --make-rslave", "/"), "", "/", "", unix.MS_REC|unix.MS_SLAVE, "", false)
		}
		root := c.root
		root.Hostname = c.hostname
		plan = root.Plan()
		// Bind sources are captured with the caller's own rights,
		// before the uid changes.
		n := 0
		for n < len(plan) && plan[n].Op == rootfs.OpCapture {
			n++
		}
		addRootSteps(p, plan[:n], trees)
		plan = plan[n:]
	}
	if userns {
		// In the user namespace the sandbox user keeps the
		// namespace's capabilities (its root is not mapped), so the
		// files of the root are made as that user.
		creds()
	}
	addRootSteps(p, plan, trees)

	dir := cmd.Dir
	if dir == "" {
		dir = c.workDir
	}
	if dir == "" && c.namespaces.Has(ns.Mount) {
		dir = "/tmp"
	}
	if dir == "" {
		// No root of its own: the caller's directory of the moment (the
		// child is forked by the zygote, whose own is /).
		if wd, err := os.Getwd(); err == nil {
			dir = wd
		}
	}
	if c.namespaces.Has(ns.UTS) {
		p.Sethostname(d("uts", "sethostname", ""), c.hostname)
	}
	if c.namespaces.Has(ns.Net) {
		p.LoopbackUp(d("net", "loopback up", "lo"))
	}
	if dir != "" {
		// The working directory is resolved inside the new root, after
		// the host's is gone: no host directory stays reachable
		// through the cwd (runc CVE-2024-21626).
		p.Chdir(d("workdir", "chdir", dir), dir)
	}
	p.FDs(d("fds", "dup3/close_range", ""), fds)

	// No capabilities in any set, bounding and ambient included, and no
	// way to regain one by exec or uid change.
	p.CapbsetDrop(d("capabilities", "drop bounding set", ""), lastCap())
	p.Securebits(d("capabilities", "set securebits", ""), lockedSecurebits)
	if !userns {
		creds()
	}
	p.ClearCaps(d("capabilities", "capset", ""))
	// no_new_privs: a setuid or file-capability binary gains nothing.
	p.NoNewPrivs(d("credentials", "no_new_privs", ""))
	// A fresh session keyring, the sandbox user's: the caller's keys
	// (and those of other runs, which share it) are out of reach
	// under any profile that allows keyctl.
	p.NewKeyring(d("credentials", "new session keyring", ""))
	for _, r := range rlimits {
		p.Setrlimit(d("rlimits", "setrlimit "+strconv.Itoa(r.resource), ""), r.resource, r.cur, r.max)
	}
	// The parent-death signal: if the supervisor dies, so does the
	// sandbox (armed after the uid change, which clears it).
	p.Pdeathsig(d("credentials", "parent-death signal", ""), int(unix.SIGKILL))
	if c.namespaces.Has(ns.PID) && !c.noInit {
		// An init as pid 1: the program is pid 2, so that the kernel
		// delivers the signals it has no handler for (a pid 1 drops
		// them: abort() would not abort, a fault would loop). The
		// steps below run in the program only, the filter above all:
		// the init has none, and so must never be reachable by the
		// program (it makes itself non-dumpable).
		p.Init(d("init", "fork the program", ""))
	}
	p.UnblockSignals(d("signals", "unblock", ""))
	switch {
	case prog != nil && prog.notify != nil:
		// The filter comes last before execve, so that it judges only
		// the program, never the setup. Its errno returns notify the
		// supervisor, which answers with the same errno.
		p.Seccomp(d("seccomp", "install filter", ""), prog.notify, true, prog.flags)
	case prog != nil && c.learn != nil:
		// Learning: the filter's traps stop the program for its
		// tracer, which records each call (traceLearn).
		spec.Trace = learnTraceOptions
		p.Tracee(d("learn", "PTRACE_SEIZE", ""))
		p.Seccomp(d("seccomp", "install filter", ""), prog.bpf, false, prog.flags)
	case prog != nil:
		p.Seccomp(d("seccomp", "install filter", ""), prog.bpf, false, prog.flags)
	}
	if c.policy == strictPolicy {
		// Strict mode is entered at the exec stop (enterStrict).
		spec.Trace = unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL
		p.Tracee(d("strict", "PTRACE_SEIZE", ""))
		p.ExecStatic(d("exec", "execve", cmd.Path), candidates, argv, env)
		return spec, nil
	}
	p.Exec(d("exec", "execve", cmd.Path), candidates, argv, env)
	return spec, nil
}

// addRootSteps turns a root plan into launcher steps.
// A capture whose tree the supervisor made already (idmapped, by target)
// takes that tree instead.
func addRootSteps(p *launch.Program, steps []rootfs.Step, trees map[string]*os.File) {
	for _, s := range steps {
		path := s.Target
		if s.Op == rootfs.OpCapture {
			path = s.Source
		}
		d := launch.Desc{Stage: s.Stage, Op: s.Op.String(), Path: path}
		switch s.Op {
		case rootfs.OpCapture:
			if t, ok := strings.CutPrefix(s.Stage, "bind "); ok && trees[t] != nil {
				p.SlotFD(d, trees[t], s.Slot)
				break
			}
			p.OpenTree(d, s.Source, s.Recursive, s.Slot, s.AttrSet, s.AttrClr)
		case rootfs.OpAttach:
			p.MoveMount(d, s.Slot, s.Target)
		case rootfs.OpMkdir:
			p.Mkdir(d, s.Target, s.Mode)
		case rootfs.OpCreate:
			p.Create(d, s.Target, s.Mode)
		case rootfs.OpSymlink:
			p.Symlink(d, s.Source, s.Target)
		case rootfs.OpWriteFile:
			p.WriteFile(d, s.Target, []byte(s.Data), s.Mode)
		case rootfs.OpMount:
			p.Mount(d, s.Source, s.Target, s.FSType, s.Flags, s.Data, s.Optional)
		case rootfs.OpSetAttr:
			p.SetAttr(d, s.Target, s.Recursive, s.AttrSet, s.AttrClr, s.Optional)
		case rootfs.OpPivot:
			p.PivotRoot(d, s.Target)
		}
	}
}

// stdio holds the program's fds 0, 1, 2 and extras, and the pipes and copy
// goroutines behind non-file readers and writers.
type stdio struct {
	fds       []int32
	child     []*os.File // our copies of the child's ends, closed after the start
	keep      []*os.File // files whose fds are passed, kept alive until the start
	parent    []*os.File // our ends, closed when done
	copies    []func()
	stdinCopy func()
	stdinSrc  io.Reader     // what stdinCopy reads
	stdinPipe *os.File      // and writes to
	stdinDone chan struct{} // closed when stdinCopy returns
	wg        sync.WaitGroup
	cap       *capper // nil: no output limit
}

// newStdio sets up the program's stdio. With an output limit, stdout and
// stderr always go through pipes and collectors that share the limit, and
// exceeded is called once when it is passed. Without one, a writer that is
// not a file gets DefaultOutputLimit. direct passes every *os.File as it
// is (WithDirectFiles).
func newStdio(cmd *Cmd, limit int64, direct bool, exceeded func()) (*stdio, error) {
	s := &stdio{}
	if limit == 0 && (isWriter(cmd.Stdout) || isWriter(cmd.Stderr)) {
		// A bytes.Buffer grows with the output: not without bound.
		limit = DefaultOutputLimit
	}
	if limit > 0 {
		s.cap = &capper{left: limit, exceeded: exceeded}
	}
	passable := func(f *os.File) bool { return direct || passAsIs(f) }
	var devNull *os.File
	null := func() (*os.File, error) {
		if devNull == nil {
			f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return nil, &SetupError{Stage: "stdio", Op: "open", Path: os.DevNull, Err: err}
			}
			devNull = f
			s.child = append(s.child, f)
		}
		return devNull, nil
	}
	add := func(f *os.File) { s.fds = append(s.fds, int32(f.Fd())) }
	fail := func(err error) (*stdio, error) {
		s.closeAll()
		return nil, err
	}

	switch r := cmd.Stdin.(type) {
	case nil:
		f, err := null()
		if err != nil {
			return fail(err)
		}
		add(f)
	case *os.File:
		if !passable(r) {
			// A regular file, a socket: fed through a pipe.
			if err := s.feed(r, add); err != nil {
				return fail(err)
			}
			break
		}
		s.keep = append(s.keep, r)
		add(r)
	default:
		if err := s.feed(r, add); err != nil {
			return fail(err)
		}
	}
	var shared *os.File
	for _, w := range []io.Writer{cmd.Stdout, cmd.Stderr} {
		f, isFile := w.(*os.File)
		switch {
		case w == nil && s.cap == nil:
			f, err := null()
			if err != nil {
				return fail(err)
			}
			add(f)
		case isFile && s.cap == nil && passable(f):
			s.keep = append(s.keep, f)
			add(f)
		case shared != nil && sameWriter(cmd.Stdout, cmd.Stderr):
			add(shared)
		default:
			if w == nil {
				w = io.Discard // counted all the same
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				return fail(&SetupError{Stage: "stdio", Op: "pipe", Err: err})
			}
			s.child = append(s.child, pw)
			s.parent = append(s.parent, pr)
			shared = pw
			add(pw)
			s.copies = append(s.copies, func() { s.collect(w, pr) })
		}
	}
	for _, f := range cmd.ExtraFiles {
		s.keep = append(s.keep, f)
		add(f)
	}
	return s, nil
}

// feed makes the program's stdin a pipe that a goroutine fills from r.
func (s *stdio) feed(r io.Reader, add func(*os.File)) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return &SetupError{Stage: "stdio", Op: "pipe", Err: err}
	}
	s.child = append(s.child, pr)
	s.parent = append(s.parent, pw)
	add(pr)
	s.stdinSrc, s.stdinPipe, s.stdinDone = r, pw, make(chan struct{})
	s.stdinCopy = func() {
		defer close(s.stdinDone)
		_, _ = io.Copy(pw, r)
		pw.Close()
	}
	return nil
}

// stopStdin ends the stdin copy once the program is gone, so that no
// goroutine of the run outlives Run: a write to the closed pipe fails, and
// a Read that blocks is cut short where the reader has a read deadline
// (os.File, net.Conn), then the deadline is cleared again, leaving the
// reader as it was. A reader with no deadline keeps its goroutine until
// its Read returns.
func (s *stdio) stopStdin() {
	if s.stdinDone == nil {
		return
	}
	s.stdinPipe.Close()
	d, ok := s.stdinSrc.(interface{ SetReadDeadline(time.Time) error })
	if !ok || d.SetReadDeadline(time.Now()) != nil {
		return
	}
	<-s.stdinDone
	_ = d.SetReadDeadline(time.Time{})
}

// passAsIs says whether f may be the program's own: a pipe or a character
// device (a terminal, /dev/null) holds nothing of the caller's to read
// back or rewrite.
func passAsIs(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&(os.ModeNamedPipe|os.ModeCharDevice) != 0
}

// isWriter says whether w is a writer that is not a file.
func isWriter(w io.Writer) bool {
	_, isFile := w.(*os.File)
	return w != nil && !isFile
}

// collect copies the program's output from r to w, up to the output
// limit. Past the limit, or once w fails, it reads on and drops what it
// reads, so that the program never blocks on a full pipe.
func (s *stdio) collect(w io.Writer, r *os.File) {
	buf := make([]byte, 32<<10)
	failed := false
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if k := s.cap.admit(n); k > 0 && !failed {
				_, werr := w.Write(buf[:k])
				failed = werr != nil
			}
		}
		if err != nil {
			return
		}
	}
}

// truncated says whether the output limit cut the output.
func (s *stdio) truncated() bool { return s.cap != nil && s.cap.cut.Load() }

// capper shares an output limit between stdout and stderr.
type capper struct {
	mu       sync.Mutex
	left     int64
	cut      atomic.Bool
	exceeded func()
}

// admit returns how many of n bytes may still be delivered; the first time
// it must refuse some, it calls exceeded. A nil capper admits everything.
func (c *capper) admit(n int) int {
	if c == nil {
		return n
	}
	c.mu.Lock()
	k := int(min(int64(n), c.left))
	c.left -= int64(k)
	c.mu.Unlock()
	if k < n && !c.cut.Swap(true) {
		c.exceeded()
	}
	return k
}

// closeChildEnds closes our copies of what the child now holds.
func (s *stdio) closeChildEnds() {
	for _, f := range s.child {
		f.Close()
	}
	s.child = nil
	s.keep = nil
}

// start starts the copy goroutines.
func (s *stdio) start() {
	if s.stdinCopy != nil {
		go s.stdinCopy()
	}
	for _, c := range s.copies {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c()
		}()
	}
}

// wait waits for the output copies: they end when every process that held
// the pipes is gone.
func (s *stdio) wait() { s.wg.Wait() }

func (s *stdio) closeAll() {
	s.closeChildEnds()
	for _, f := range s.parent {
		f.Close()
	}
	s.parent = nil
}

// sameWriter reports whether a and b are the same writer; writers of
// uncomparable types are never the same.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
