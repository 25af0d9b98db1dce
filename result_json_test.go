package sandbox_test

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosandbox/sandbox"
)

// A Result marshals with the CLI's field names and signal names, and
// reads back the same.
func TestResultJSON(t *testing.T) {
	res := &sandbox.Result{Status: sandbox.SeccompKilled, ExitCode: 159, Signal: syscall.SIGSYS, SeccompMode: sandbox.DockerDefaultKill,
		WallTime: 12 * time.Millisecond, CPUTime: 3 * time.Millisecond, PeakMemory: 1 << 20, PidsLimitReached: true,
		Violations:     []sandbox.Violation{{Syscall: "unshare", Number: 272, Arch: "x86_64", Action: "kill"}},
		ViolationCount: 1, Warnings: []string{"w"}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"status":"seccomp_killed"`, `"exit_code":159`, `"signal":"SIGSYS"`, `"seccomp_mode":"docker-default-kill"`,
		`"wall_time_ns":12000000`, `"violations":[{"syscall":"unshare","number":272,"arch":"x86_64","action":"kill"}]`, `"pids_limit_reached":true`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back sandbox.Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for sig, name := range map[syscall.Signal]string{0: "", syscall.SIGKILL: "SIGKILL", 35: "SIGRTMIN+1"} {
		if got := sandbox.SignalName(sig); got != name {
			t.Errorf("SignalName(%d) = %q, want %q", sig, got, name)
		}
	}
}
