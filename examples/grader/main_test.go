package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gosandbox/sandbox/internal/testenv"
)

func TestSampleProblem(t *testing.T) {
	testenv.RequireRoot(t) // memory limits need a cgroup; verdict names need the audit log
	results, err := gradeAll(context.Background(), "problem/sum", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Verdict{
		"correct.c/1": Accepted, "correct.c/2": Accepted, "correct.c/3": Accepted,
		"slow.py/1": Accepted, "slow.py/2": Accepted, "slow.py/3": TimeLimit,
		"hungry.cpp/1": MemoryLimit, "hungry.cpp/2": MemoryLimit, "hungry.cpp/3": MemoryLimit,
		"malicious.c/1": SecurityViolation, "malicious.c/2": SecurityViolation, "malicious.c/3": SecurityViolation,
	}
	if len(results) != len(want) {
		t.Errorf("%d results, want %d", len(results), len(want))
	}
	for _, r := range results {
		key := r.Submission + "/" + r.Test
		if r.Verdict != want[key] {
			t.Errorf("%s: %s (%s), want %s", key, r.Verdict, r.Detail, want[key])
		}
		if r.Verdict == SecurityViolation && r.Detail != "unshare" {
			t.Errorf("%s: violation %q, want unshare", key, r.Detail)
		}
		if r.Verdict == MemoryLimit && (r.Memory < 60<<20 || r.Memory > 70<<20) {
			t.Errorf("%s: peak %d, want about the 64 MiB limit", key, r.Memory)
		}
	}
	var table bytes.Buffer
	printTable(&table, results)
	if !strings.HasPrefix(table.String(), "SUBMISSION") || strings.Count(table.String(), "\n") != len(results)+1 {
		t.Errorf("table:\n%s", table.String())
	}
}

func TestCompileError(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	bad := dir + "/bad.c"
	os.WriteFile(bad, []byte("int main(void) { return x; }\n"), 0o644)
	results, err := gradeAll(context.Background(), "problem/sum", []string{bad})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Verdict != CompileError || !strings.Contains(r.Detail, "x") {
			t.Errorf("%s/%s: %s %q", r.Submission, r.Test, r.Verdict, r.Detail)
		}
	}
}

// Each test has a fresh /work and a read-only build: a submission that
// leaves a file in /work (and would answer wrong once it finds one), or
// rewrites its own program, cannot change the verdict of another test.
func TestTestsShareNothing(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	sticky := dir + "/sticky.c"
	os.WriteFile(sticky, []byte(`#include <stdio.h>
#include <unistd.h>
int main(void)
{
	long long n, x, sum = 0;
	if (access("marker", F_OK) == 0 || fopen("/build/prog", "r+") != NULL) {
		puts("-1");
		return 0;
	}
	fclose(fopen("marker", "w"));
	if (scanf("%lld", &n) != 1)
		return 1;
	for (long long i = 0; i < n && scanf("%lld", &x) == 1; i++)
		sum += x;
	printf("%lld\n", sum);
	return 0;
}
`), 0o644)
	results, err := gradeAll(context.Background(), "problem/sum", []string{sticky})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Verdict != Accepted {
			t.Errorf("%s/%s: %s (%s), want Accepted", r.Submission, r.Test, r.Verdict, r.Detail)
		}
	}
}
