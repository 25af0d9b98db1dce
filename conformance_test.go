package sandbox_test

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gosandbox/sandbox"
)

// Conformance with the runtime-spec and runc, run for real; the filter's
// own cases are in internal/filter/conformance_test.go, and the launch the
// profile makes impossible in TestImpossibleProfiles.

// Each flag a profile may name is installed (or left out where the kernel
// lacks it); an unknown one is refused, named.
func TestConformanceFlagsRun(t *testing.T) {
	for _, flag := range []string{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"} {
		profile := `{"defaultAction":"SCMP_ACT_ALLOW","flags":["` + flag + `"],"syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}`
		res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(profile))}, "/probe/probe", "sys", "mount")
		wantExit(t, res, out, 0)
		if out != "mount 1\n" {
			t.Errorf("%s: %q, want mount denied with EPERM", flag, out)
		}
	}
	_, err := sandbox.Run(sandbox.Command("/bin/true"), sandbox.WithProfile([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_BOGUS"]}`)))
	var ce *sandbox.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "SECCOMP_FILTER_FLAG_BOGUS") {
		t.Errorf("an unknown flag: %v, want a ConfigError naming it", err)
	}
}

// A syscall newer than the profile (numbered above the highest it names)
// gets ENOSYS when the default is not an allow, as under runc, so that a
// libc falls back: file_getattr (468, Linux 6.17) and an unassigned 1000
// under Docker's default. Below it, the default's EPERM stays.
func TestConformanceNewerSyscallsENOSYS(t *testing.T) {
	if !isAMD64() {
		t.Skip("the numbers are amd64's")
	}
	res, out := run(t, nil, "/probe/probe", "nr", "468", "1000", "400")
	wantExit(t, res, out, 0)
	want := map[string]syscall.Errno{"468": syscall.ENOSYS, "1000": syscall.ENOSYS, "400": syscall.EPERM}
	if diff := cmp.Diff(want, probeErrnos(t, out)); diff != "" {
		t.Errorf("errnos (-want +got):\n%s", diff)
	}
	// An allow-by-default profile has no stub: the kernel's own ENOSYS.
	res, out = run(t, []sandbox.Option{sandbox.WithProfile([]byte(seedProfile))}, "/probe/probe", "nr", "1000")
	wantExit(t, res, out, 0)
	if out != fmt.Sprintf("1000 %d\n", syscall.ENOSYS) {
		t.Errorf("under the seed profile: %q", out)
	}
}

// An allow rule naming a syscall nobody knows is skipped, the run goes on,
// and Result.Warnings says so.
func TestConformanceUnknownNameWarning(t *testing.T) {
	const profile = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"},{"names":["frobnicate"],"action":"SCMP_ACT_LOG"}]}`
	res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(profile))}, "/probe/probe", "sys", "mount")
	wantExit(t, res, out, 0)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "frobnicate") {
		t.Errorf("warnings %q, want the skipped rule", res.Warnings)
	}
}

// A TRACE rule with no tracer: the call fails with ENOSYS, as under runc.
func TestConformanceTraceENOSYS(t *testing.T) {
	const profile = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_TRACE"}]}`
	nr := fmt.Sprint(syscall.SYS_GETPPID)
	res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(profile))}, "/probe/probe", "nr", nr)
	wantExit(t, res, out, 0)
	if out != fmt.Sprintf("%s %d\n", nr, syscall.ENOSYS) {
		t.Errorf("got %q, want ENOSYS", out)
	}
}
