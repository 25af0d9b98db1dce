package sandbox_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"syscall"
	"testing"

	"github.com/gosandbox/sandbox"
)

func learnAndRun(t *testing.T, argv ...string) (profile []byte, learnOut, runOut string) {
	t.Helper()
	var a, b bytes.Buffer
	learn := sandbox.Command(argv[0], argv[1:]...)
	learn.Stdout, learn.Stderr = &a, &a
	profile, res, err := sandbox.Learn(learn)
	if err != nil {
		t.Fatalf("Learn: %v", err)
	}
	wantExit(t, res, a.String(), 0)
	if res.SeccompMode != sandbox.Learning {
		t.Errorf("mode %v", res.SeccompMode)
	}
	cmd := sandbox.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &b, &b
	res, err = sandbox.Run(cmd, sandbox.WithProfile(profile))
	if err != nil {
		t.Fatalf("Run under the learned profile: %v\n%s", err, profile)
	}
	if res.Status != sandbox.Exited || res.ExitCode != 0 {
		t.Fatalf("under the learned profile: %v %d, violations %+v", res.Status, res.ExitCode, res.Violations)
	}
	if res.ViolationCount != 0 {
		t.Errorf("violations under the learned profile: %+v\n%s", res.Violations, profile)
	}
	return profile, a.String(), b.String()
}

func TestLearn(t *testing.T) {
	for _, argv := range [][]string{
		{"/bin/ls", "-a", "/"},
		{"/usr/bin/python3", "-c", "import json, os; print(json.dumps(sorted(os.listdir('/'))))"},
		{"/bin/sh", "-c", "echo a b c | tr ' ' '\\n' | sort -r | head -n 2"},
	} {
		t.Run(argv[0], func(t *testing.T) {
			profile, learnOut, runOut := learnAndRun(t, argv...)
			if learnOut != runOut || runOut == "" {
				t.Errorf("output while learning %q, under the profile %q", learnOut, runOut)
			}
			var p struct {
				DefaultAction   string
				DefaultErrnoRet int
				Syscalls        []struct {
					Names  []string
					Action string
					Args   []any
				}
			}
			if err := json.Unmarshal(profile, &p); err != nil {
				t.Fatal(err)
			}
			names := p.Syscalls[0].Names
			if p.DefaultAction != "SCMP_ACT_ERRNO" || p.DefaultErrnoRet != int(syscall.EPERM) || len(p.Syscalls) != 1 ||
				p.Syscalls[0].Args != nil || !slices.IsSorted(names) || !slices.Contains(names, "execve") || slices.Contains(names, "mount") {
				t.Errorf("profile:\n%s", profile)
			}
		})
	}
}

// A call the program did not make while learning is denied with EPERM and
// reported.
func TestLearnDeniesNew(t *testing.T) {
	var out bytes.Buffer
	cmd := sandbox.Command("/probe/probe", "sys", "getpid")
	cmd.Stdout = &out
	probe := sandbox.WithBind(probeDir(t), "/probe")
	profile, _, err := sandbox.Learn(cmd, probe)
	if err != nil {
		t.Fatal(err)
	}
	res, got := run(t, []sandbox.Option{sandbox.WithProfile(profile)}, "/probe/probe", "sys", "getpid", "mkdir")
	wantExit(t, res, got, 0)
	if e := probeErrnos(t, got); e["getpid"] != 0 || e["mkdir"] != syscall.EPERM {
		t.Errorf("errnos %v", e)
	}
	if len(res.Violations) != 1 || res.Violations[0].Syscall != "mkdir" {
		t.Errorf("violations %+v", res.Violations)
	}
}
