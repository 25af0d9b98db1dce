package sandbox_test

import (
	"errors"
	"strings"
	"testing"

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
