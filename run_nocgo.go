//go:build !linux || !cgo

package sandbox

import (
	"context"
	"fmt"
	"os"
)

// Off Linux, or without cgo, there is neither the launcher nor
// libseccomp: every run fails closed.
var errNoCgo = fmt.Errorf("%w: needs Linux and cgo (the launcher and libseccomp)", ErrUnsupported)

var (
	dockerDefaultPolicy     = &policy{mode: DockerDefault, compile: func() (*program, error) { return nil, errNoCgo }}
	dockerDefaultKillPolicy = &policy{mode: DockerDefaultKill, compile: func() (*program, error) { return nil, errNoCgo }}
)

func customPolicy(input string, _ []byte) (*policy, error) {
	return nil, &ConfigError{Input: input, Err: errNoCgo}
}

// Run runs cmd in a new sandbox. Off Linux or without cgo it always fails
// with an error matching ErrUnsupported.
func Run(cmd *Cmd, opts ...Option) (*Result, error) {
	return RunContext(context.Background(), cmd, opts...)
}

// RunContext runs cmd in a new sandbox. Without cgo it always fails with an
// error matching ErrUnsupported.
func RunContext(ctx context.Context, cmd *Cmd, opts ...Option) (*Result, error) {
	return nil, errNoCgo
}

// Start starts cmd in a new sandbox. Without cgo it always fails with an
// error matching ErrUnsupported.
func Start(ctx context.Context, cmd *Cmd, opts ...Option) (*Process, error) {
	return nil, errNoCgo
}

// Process is a program started in a sandbox. Without cgo there is none.
type Process struct{}

// Pid returns the program's pid. Without cgo there is no program.
func (p *Process) Pid() int { return 0 }

// Signal sends sig to the program. Without cgo there is no program.
func (p *Process) Signal(sig os.Signal) error { return errNoCgo }

// Wait waits for the program. Without cgo there is no program.
func (p *Process) Wait() (*Result, error) { return nil, errNoCgo }

// Shutdown releases the package's process-wide state. Without cgo there is
// none.
func Shutdown() error { return nil }

// Learn runs cmd recording its system calls. Without cgo it always fails
// with an error matching ErrUnsupported.
func Learn(cmd *Cmd, opts ...Option) (profile []byte, res *Result, err error) {
	return nil, nil, errNoCgo
}

// LearnContext is Learn with a context. Without cgo it always fails with
// an error matching ErrUnsupported.
func LearnContext(ctx context.Context, cmd *Cmd, opts ...Option) (profile []byte, res *Result, err error) {
	return nil, nil, errNoCgo
}

// Pool keeps sandboxes prepared ahead of time. Without cgo there are none.
type Pool struct{}

// MaxPoolSize is the largest size of a Pool.
const MaxPoolSize = 1024

// NewPool starts a Pool. Without cgo it always fails with an error
// matching ErrUnsupported.
func NewPool(size int, opts ...Option) (*Pool, error) { return nil, errNoCgo }

// Run runs cmd in a sandbox of the Pool. Without cgo there is none.
func (pl *Pool) Run(cmd *Cmd) (*Result, error) { return nil, errNoCgo }

// RunContext runs cmd in a sandbox of the Pool. Without cgo there is none.
func (pl *Pool) RunContext(ctx context.Context, cmd *Cmd) (*Result, error) { return nil, errNoCgo }

// Start starts cmd in a sandbox of the Pool. Without cgo there is none.
func (pl *Pool) Start(ctx context.Context, cmd *Cmd) (*Process, error) { return nil, errNoCgo }

// Stats counts the Pool's runs. Without cgo there are none.
func (pl *Pool) Stats() PoolStats { return PoolStats{} }

// Close stops the Pool. Without cgo there is nothing to stop.
func (pl *Pool) Close() error { return nil }
