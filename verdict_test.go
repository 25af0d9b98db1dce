//go:build linux && cgo

package sandbox

import (
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The verdict's precedence, as Result's doc gives it, without a run.
func TestVerdictPrecedence(t *testing.T) {
	exited := func(code int) unix.WaitStatus { return unix.WaitStatus(code << 8) }
	signaled := func(sig syscall.Signal, core bool) unix.WaitStatus {
		ws := unix.WaitStatus(sig)
		if core {
			ws |= 0x80
		}
		return ws
	}
	tests := []struct {
		name       string
		ws         unix.WaitStatus
		k          *killer
		pre        Result // what was set before the verdict
		policyKill bool
		cpuRlimit  bool
		want       Status
		exit       int
		sig        syscall.Signal
	}{
		{"exit 0", exited(0), &killer{}, Result{}, false, false, Exited, 0, 0},
		{"exit 3", exited(3), &killer{}, Result{}, false, false, Exited, 3, 0},
		{"a signal", signaled(syscall.SIGSEGV, true), &killer{}, Result{}, false, false, Signaled, 139, syscall.SIGSEGV},
		{"the notifier's kill reads as the kernel's", signaled(syscall.SIGKILL, false), &killer{seccomp: true}, Result{}, false, false, SeccompKilled, 159, syscall.SIGSYS},
		{"the supervisor's kill: its reason", signaled(syscall.SIGKILL, false), &killer{killed: true, reason: Timeout}, Result{}, false, false, Timeout, 137, syscall.SIGKILL},
		{"the first kill's reason wins over a later seccomp kill", signaled(syscall.SIGKILL, false), &killer{killed: true, reason: CPUTimeExceeded}, Result{}, true, false, CPUTimeExceeded, 137, syscall.SIGKILL},
		{"the kernel's kill for the policy", signaled(syscall.SIGSYS, true), &killer{}, Result{}, true, false, SeccompKilled, 159, syscall.SIGSYS},
		{"SIGSYS that is not the policy's", signaled(syscall.SIGSYS, false), &killer{}, Result{}, false, false, Signaled, 159, syscall.SIGSYS},
		{"RLIMIT_CPU's SIGKILL", signaled(syscall.SIGKILL, false), &killer{}, Result{CPUTime: 2 * time.Second}, false, true, CPUTimeExceeded, 137, syscall.SIGKILL},
		{"a SIGKILL under the CPU rlimit's time", signaled(syscall.SIGKILL, false), &killer{}, Result{CPUTime: time.Second / 2}, false, true, Signaled, 137, syscall.SIGKILL},
		{"output beats the timeout", signaled(syscall.SIGKILL, false), &killer{killed: true, reason: Timeout}, Result{OutputTruncated: true}, false, false, OutputExceeded, 137, syscall.SIGKILL},
		{"memory beats everything", signaled(syscall.SIGKILL, false), &killer{killed: true, reason: Timeout}, Result{Status: MemoryExceeded, OutputTruncated: true}, false, false, MemoryExceeded, 137, syscall.SIGKILL},
		{"memory, though it exited", exited(1), &killer{}, Result{Status: MemoryExceeded}, false, false, MemoryExceeded, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.pre
			res.verdict(tt.ws, tt.k, tt.policyKill, tt.cpuRlimit, time.Second)
			if res.Status != tt.want || res.ExitCode != tt.exit || res.Signal != tt.sig {
				t.Errorf("status %v exit %d signal %v, want %v %d %v", res.Status, res.ExitCode, res.Signal, tt.want, tt.exit, tt.sig)
			}
			if res.CoreDumped != (tt.ws.Signaled() && tt.ws.CoreDump()) {
				t.Errorf("core dumped %v", res.CoreDumped)
			}
		})
	}
}
