package sandbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// The errors of the package: what Run, Start, NewPool and the options
// return when a sandbox could not be built or its program not started.

// ErrUnsupported is matched (errors.Is) by every error about a protection
// that was asked for but that this system or build cannot give: no cgo, no
// user namespaces, a kernel too old. It wraps errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("sandbox: protection unavailable: %w", errors.ErrUnsupported)

// UnsupportedError is a protection that was asked for and that this host
// cannot give as the caller runs: no usable cgroup for a limit, no user
// namespace, a kernel too old. The configuration is valid; the
// environment is short. Nothing was started. It matches ErrUnsupported and
// its cause.
type UnsupportedError struct {
	// What names the protection: an option or a limit.
	What string
	// Err says why, and what to do.
	Err error
}

// Error names the protection and why it is missing.
func (e *UnsupportedError) Error() string {
	return "sandbox: " + e.What + ": protection unavailable: " + e.Err.Error()
}

// Unwrap returns ErrUnsupported and the cause.
func (e *UnsupportedError) Unwrap() []error { return []error{ErrUnsupported, e.Err} }

// ErrNotFound is matched by the error of Run when the program does not exist
// inside the sandbox.
var ErrNotFound = errors.New("executable file not found in the sandbox")

// ErrNotExecutable is matched by the error of Run when the program exists
// inside the sandbox but cannot be executed.
var ErrNotExecutable = errors.New("file is not executable in the sandbox")

// LaunchDeniedError is a profile that denies a call that the launch itself
// makes once the filter is in: execve, and write and exit_group (with which
// a failed exec is reported). Under such a profile the launcher would be
// denied or killed before the program's first instruction, and could not
// say why; so nothing is started. It comes wrapped in a ConfigError.
type LaunchDeniedError struct {
	// Calls are the calls denied, each with what the profile does to
	// it, as a Violation would report it (Source SourceProfile).
	Calls []Violation
}

// Error names the calls: "the profile denies what the launch needs:
// execve (59, kill_thread), ...".
func (e *LaunchDeniedError) Error() string {
	var b strings.Builder
	b.WriteString("the profile denies what the launch needs: ")
	for i, c := range e.Calls {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d, %s)", c.Syscall, c.Number, c.Action)
	}
	return b.String()
}

// ErrPoolClosed is the error of a Pool's runs after Close.
var ErrPoolClosed = errors.New("sandbox: pool closed")

// ConfigError is an invalid option or input. Nothing was started.
type ConfigError struct {
	// Input names what was wrong: an option, a profile, a field of Cmd.
	Input string
	Err   error
}

// Error describes the bad input.
func (e *ConfigError) Error() string { return "sandbox: " + e.Input + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// SetupError is a failed step in building the sandbox.
type SetupError struct {
	// Stage is the part of the sandbox being built ("dev", "proc",
	// "user namespace", "seccomp", ...).
	Stage string
	// Op is the operation that failed, usually a system call.
	Op string
	// Path is the path it worked on, or "".
	Path string
	// Err is the cause, usually a syscall.Errno.
	Err error
}

// Error names the stage, operation and path that failed.
func (e *SetupError) Error() string {
	s := "sandbox: " + e.Stage + ": " + e.Op
	if e.Path != "" {
		s += " " + strconv.Quote(e.Path)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *SetupError) Unwrap() error { return e.Err }

// ExecError is a program that could not be executed in the sandbox. It
// matches ErrNotFound or ErrNotExecutable, and the errno of execve.
type ExecError struct {
	// Name is the program as given in Cmd.Path.
	Name string
	// Err is the errno of execve.
	Err error
}

// Error names the program and why it could not be executed.
func (e *ExecError) Error() string {
	return "sandbox: exec " + strconv.Quote(e.Name) + ": " + e.kind().Error() + ": " + e.Err.Error()
}

func (e *ExecError) kind() error {
	if errors.Is(e.Err, syscall.ENOENT) || errors.Is(e.Err, syscall.ENOTDIR) {
		return ErrNotFound
	}
	return ErrNotExecutable
}

// Unwrap returns ErrNotFound or ErrNotExecutable, and the errno.
func (e *ExecError) Unwrap() []error { return []error{e.kind(), e.Err} }
