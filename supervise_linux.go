//go:build linux && cgo

package sandbox

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/gosandbox/sandbox/internal/cgroup"
	"github.com/gosandbox/sandbox/internal/launch"
)

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
