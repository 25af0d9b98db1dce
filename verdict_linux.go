//go:build linux && cgo

package sandbox

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// verdict sets Status, ExitCode and Signal from the wait status and what
// the supervisor saw, in the precedence documented on Result. A
// MemoryExceeded status is set already. policyKill says the run's mode
// takes ws for a kill of its policy (mode.killed), cpuByRlimit that
// RLIMIT_CPU enforced the CPU-time limit cpuTime.
func (res *Result) verdict(ws unix.WaitStatus, k *killer, policyKill, cpuByRlimit bool, cpuTime time.Duration) {
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
		case policyKill:
			// The kernel's kill for the policy: SIGSYS for a
			// filter's, SIGKILL in a call strict mode forbids.
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
