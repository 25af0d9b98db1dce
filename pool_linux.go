//go:build linux && cgo

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosandbox/sandbox/internal/cgroup"
	"github.com/gosandbox/sandbox/internal/launch"
)

// setup is what a launch holds before its program is known: its cgroup,
// its rlimits, the idmapped trees of its read-write binds, and what
// enforces its limits.
type setup struct {
	grp      *cgroup.Group // nil: none
	rlimits  []rlimit
	trees    map[string]*os.File
	enforced []Enforcement
}

// newSetup takes a cgroup (with c's limits) and makes the idmapped trees
// of c's read-write binds.
func (c *config) newSetup() (*setup, error) {
	var res Result
	grp, rl, err := c.resources(&res)
	if err != nil {
		return nil, err
	}
	su := &setup{grp: grp, rlimits: rl}
	// The read-write binds, idmapped to the caller where they can be
	// (as root): captured here, in the initial user namespace.
	maps := c.userMaps()
	if su.trees, err = c.idmapped(&res, maps.UID.Outside, maps.GID.Outside); err != nil {
		su.release()
		return nil, err
	}
	su.enforced = res.Enforced
	return su, nil
}

// place puts spec's child into the setup's cgroup before its first step,
// so that everything it does is counted and its cgroup namespace is rooted
// there: made in it on v2 (CLONE_INTO_CGROUP), moved into it otherwise.
func (su *setup) place(spec *launch.Spec) {
	if su.grp != nil {
		spec.Cgroup = su.grp.Dir()
		spec.Prepare = su.grp.Add
	}
}

// release gives the cgroup back (checked empty first) and closes the
// trees (a child has its own copies, or is gone). A nil setup is fine.
func (su *setup) release() {
	if su == nil {
		return
	}
	if su.grp != nil {
		su.grp.Release()
	}
	for _, f := range su.trees {
		f.Close()
	}
}

// prepared is a child parked before its program (Pool): namespaces made,
// id maps written, root built, in its cgroup.
type prepared struct {
	proc  *launch.Process // nil once resumed
	setup *setup          // nil once taken by the run
}

// discard kills and reaps the child unless it was resumed, and releases
// what the run did not take.
func (pre *prepared) discard() {
	if pre.proc != nil {
		pre.proc.Abort()
		pre.proc = nil
	}
	pre.setup.release()
	pre.setup = nil
}

// prepareTimeout bounds the making of one prepared child.
const prepareTimeout = 30 * time.Second

// prepare makes a child for c and parks it before its program.
func (c *config) prepare() (*prepared, error) {
	su, err := c.newSetup()
	if err != nil {
		return nil, err
	}
	// The program-independent head of the steps: nothing of this Cmd
	// is in it.
	spec, err := c.spec(&Cmd{}, unconfined{}, nil, nil, nil, nil, su, parkedLaunch)
	if err != nil {
		su.release()
		return nil, err
	}
	spec.Program, _ = spec.Program.Split()
	su.place(spec)
	ctx, cancel := context.WithTimeout(context.Background(), prepareTimeout)
	defer cancel()
	proc, err := launch.Start(ctx, spec)
	if err != nil {
		su.release()
		return nil, launchError(&Cmd{Path: "(prepared)"}, err)
	}
	return &prepared{proc: proc, setup: su}, nil
}

// Pool keeps sandboxes prepared ahead of time for one configuration, so
// that a run starts from a child whose namespaces, id maps, root and
// cgroup are made already: only the program's own steps (its directory,
// fds, credentials, limits, init, filter and exec) are left.
//
// Each prepared child is used for one run, never two: every run still gets
// fresh namespaces, a fresh root with a fresh /tmp and /proc, and nothing
// of an earlier run. A run's Result comes once no process of its sandbox
// is left; the teardown of the rest (the namespaces, the cgroup's release)
// follows off the caller's path. A Pool holds at most size sandboxes,
// prepared, running a program or being torn down; when one is gone, it
// prepares the next (not during a run, which it would slow). When none is ready (more runs at
// once than size), a run makes its own sandbox, as Run does: a Pool never
// makes a run wait for it.
//
// A prepared child has captured its binds already: a bind source's
// contents are seen as they are at the run, but a source directory
// replaced after the child was prepared (renamed over, say) is not. Give
// each run what changes from run to run through its Cmd (Dir, ExtraFiles,
// stdin) or through a directory whose contents change.
//
// The Pool starts preparing at NewPool, in a goroutine, and stops at
// Close, which waits for its runs and their teardown. Idle, it costs size
// parked processes (each a fork of the
// sandbox's small zygote, a few hundred kB with its namespaces and tmpfs
// root) and size cgroups, and no CPU.
type Pool struct {
	c     *config
	slots chan struct{}  // one for each child being prepared, ready, or running a program
	ready chan *prepared // as many as slots: sends never block
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	warm  atomic.Int64 // runs that took a prepared child
	cold  atomic.Int64 // runs that found none ready

	mu     sync.Mutex
	closed bool
	runs   sync.WaitGroup // the runs whose sandboxes are not gone yet
}

// Stats says how many of the Pool's runs so far took a prepared sandbox
// (Warm) and how many found none ready and made their own (Cold): many
// cold runs mean more runs at once than the Pool's size.
func (pl *Pool) Stats() PoolStats {
	return PoolStats{Warm: pl.warm.Load(), Cold: pl.cold.Load()}
}

// MaxPoolSize is the largest size of a Pool: each prepared sandbox is a
// process with its namespaces and a cgroup.
const MaxPoolSize = 1024

// NewPool starts a Pool of size prepared sandboxes configured by opts,
// which apply to every run of the Pool. It makes the first one before it
// returns, so that a configuration that cannot be built fails here, with
// the errors of RunContext. Learning runs cannot be pooled.
func NewPool(size int, opts ...Option) (*Pool, error) {
	if size < 1 || size > MaxPoolSize {
		return nil, &ConfigError{Input: "NewPool", Err: fmt.Errorf("size %d out of range 1-%d", size, MaxPoolSize)}
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if c.learn != nil {
		return nil, &ConfigError{Input: "NewPool", Err: errors.New("a learning run cannot be pooled")}
	}
	first, err := c.prepare()
	if err != nil {
		return nil, err
	}
	pl := &Pool{c: c, slots: make(chan struct{}, size), ready: make(chan *prepared, size),
		stop: make(chan struct{}), done: make(chan struct{})}
	pl.slots <- struct{}{}
	pl.ready <- first
	go pl.fill()
	return pl, nil
}

// fill prepares children until Close: it takes a free slot, prepares a
// child for it, and makes it ready.
func (pl *Pool) fill() {
	defer close(pl.done)
	backoff := 10 * time.Millisecond
	for {
		select {
		case pl.slots <- struct{}{}:
		case <-pl.stop:
			return
		}
		for {
			pre, err := pl.c.prepare()
			if err == nil {
				pl.ready <- pre
				backoff = 10 * time.Millisecond
				break
			}
			// Runs go on cold meanwhile; try again later.
			select {
			case <-pl.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// Run runs cmd in a sandbox of the Pool and waits for it to end. See
// RunContext. When it returns, every process of the sandbox has ended;
// the kernel's teardown of its namespaces and the release of its cgroup
// go on after, off the caller's path, and its slot in the Pool is free
// again once they are done.
func (pl *Pool) Run(cmd *Cmd) (*Result, error) {
	return pl.RunContext(context.Background(), cmd)
}

// RunContext runs cmd in a prepared sandbox of the Pool, or in a new one
// when none is ready, and waits for it to end: as RunContext with the
// Pool's options. After Close it fails with ErrPoolClosed.
func (pl *Pool) RunContext(ctx context.Context, cmd *Cmd) (*Result, error) {
	pre, ended, err := pl.take(ctx)
	if err != nil {
		return nil, err
	}
	return newProcess().run(ctx, cmd, pl.c, pre, ended)
}

// Start starts cmd in a prepared sandbox of the Pool, or in a new one when
// none is ready: as Start with the Pool's options.
func (pl *Pool) Start(ctx context.Context, cmd *Cmd) (*Process, error) {
	pre, ended, err := pl.take(ctx)
	if err != nil {
		return nil, err
	}
	return start(ctx, cmd, pl.c, pre, ended)
}

// take returns a prepared child for a run, or nil when none is ready,
// and what the run calls once its sandbox is gone: the child's slot is
// free again, and Close need not wait for it.
func (pl *Pool) take(ctx context.Context) (*prepared, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		return nil, nil, ErrPoolClosed
	}
	pl.runs.Add(1) // before Close can wait: it sets closed first
	pl.mu.Unlock()
	var pre *prepared
	for pre == nil {
		select {
		case pre = <-pl.ready:
		default:
		}
		if pre == nil {
			pl.cold.Add(1)
			break
		}
		if !pre.proc.Parked() {
			// Ended while it waited (killed from outside): the next.
			pre.discard()
			<-pl.slots
			pre = nil
			continue
		}
		pl.warm.Add(1)
	}
	return pre, func() {
		if pre != nil {
			<-pl.slots
		}
		pl.runs.Done()
	}, nil
}

// Close stops the Pool: the children it has ready are killed, and new
// runs fail with ErrPoolClosed. Runs already started go on, and Close
// waits for them to end and for their sandboxes to be gone (so it must
// not be called from a run's own output writer): once it returns, no
// process, namespace or cgroup of the Pool's is left. Cancel the runs'
// contexts to end them sooner.
func (pl *Pool) Close() error {
	pl.once.Do(func() {
		pl.mu.Lock()
		pl.closed = true
		pl.mu.Unlock()
		close(pl.stop)
		<-pl.done
		for done := false; !done; {
			select {
			case pre := <-pl.ready:
				pre.discard()
			default:
				done = true
			}
		}
		pl.runs.Wait()
	})
	return nil
}
