// Command grader judges submissions to a problem, each build and each test
// in a sandbox of its own, and prints a table of verdicts.
//
//	go run ./examples/grader examples/grader/problem/sum            # every submission
//	go run ./examples/grader examples/grader/problem/sum my.c       # one
//
// A problem is a directory with problem.json (limits), tests/N.in and
// tests/N.out, and (for the first form) submissions/. C and C++ are built
// with gcc inside a sandbox; Python runs as it is. Tests run in parallel,
// up to the number of CPUs.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gosandbox/sandbox"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: grader PROBLEM_DIR [SUBMISSION...]")
	}
	results, err := gradeAll(context.Background(), os.Args[1], os.Args[2:])
	// The cgroups kept for reuse go with the grader.
	if rerr := sandbox.Shutdown(); rerr != nil {
		log.Print(rerr)
	}
	if err != nil {
		log.Fatal(err)
	}
	printTable(os.Stdout, results)
}

// Problem is a problem's limits, from problem.json.
type Problem struct {
	Name       string `json:"name"`
	CPUTimeMS  int    `json:"cpu_time_ms"`
	WallTimeMS int    `json:"wall_time_ms"`
	MemoryMiB  int64  `json:"memory_mib"`
	OutputKiB  int64  `json:"output_kib"`
}

// Verdict is the judgement of one test.
type Verdict string

// The verdicts.
const (
	Accepted          Verdict = "Accepted"
	WrongAnswer       Verdict = "WrongAnswer"
	TimeLimit         Verdict = "TimeLimit"
	MemoryLimit       Verdict = "MemoryLimit"
	OutputLimit       Verdict = "OutputLimit"
	RuntimeError      Verdict = "RuntimeError"
	SecurityViolation Verdict = "SecurityViolation"
	CompileError      Verdict = "CompileError"
)

// Result is one submission on one test.
type Result struct {
	Submission, Test string
	Verdict          Verdict
	Detail           string // the denied syscall, the exit status, the compiler's first line
	Time             time.Duration
	Memory           int64
}

// gradeAll judges the given submissions, or every one in the problem's
// submissions directory.
func gradeAll(ctx context.Context, dir string, subs []string) ([]Result, error) {
	var p Problem
	b, err := os.ReadFile(filepath.Join(dir, "problem.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "problem.json"), err)
	}
	tests, err := filepath.Glob(filepath.Join(dir, "tests", "*.in"))
	if err != nil || len(tests) == 0 {
		return nil, fmt.Errorf("%s: no tests/*.in", dir)
	}
	if len(subs) == 0 {
		if subs, err = filepath.Glob(filepath.Join(dir, "submissions", "*")); err != nil {
			return nil, err
		}
	}
	var (
		mu      sync.Mutex
		results []Result
		wg      sync.WaitGroup
		slots   = make(chan struct{}, runtime.NumCPU())
	)
	for _, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := grade(ctx, &p, sub, tests, slots)
			mu.Lock()
			results = append(results, rs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.SortFunc(results, func(a, b Result) int {
		return strings.Compare(a.Submission+"\x00"+a.Test, b.Submission+"\x00"+b.Test)
	})
	return results, nil
}

// grade builds one submission and runs it on every test.
func grade(ctx context.Context, p *Problem, sub string, tests []string, slots chan struct{}) []Result {
	name := filepath.Base(sub)
	build, err := tempDir()
	if err == nil {
		defer os.RemoveAll(build)
	}
	src, err2 := filepath.Abs(filepath.Dir(sub))
	if err = firstErr(err, err2); err != nil {
		return []Result{{Submission: name, Verdict: RuntimeError, Detail: err.Error()}}
	}
	// The submission's directory read-only at /src; the build at /build,
	// read-write for the compiler, read-only for the tests (a program
	// cannot rewrite itself for the next test).
	src2 := sandbox.WithBind(src, "/src")
	mounts := []sandbox.Option{src2, sandbox.WithBind(build, "/build")}
	var argv []string
	switch filepath.Ext(name) {
	case ".c", ".cpp":
		compiler := "/usr/bin/gcc"
		if filepath.Ext(name) == ".cpp" {
			compiler = "/usr/bin/g++"
		}
		if detail := compile(ctx, compiler, name, []sandbox.Option{src2, sandbox.WithWorkDir(build, "/build")}); detail != "" {
			var rs []Result
			for _, t := range tests {
				rs = append(rs, Result{Submission: name, Test: testName(t), Verdict: CompileError, Detail: detail})
			}
			return rs
		}
		argv = []string{"/build/prog"}
	case ".py":
		argv = []string{"/usr/bin/python3", "/src/" + name}
	default:
		return []Result{{Submission: name, Verdict: CompileError, Detail: "unknown language " + filepath.Ext(name)}}
	}
	var rs []Result
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			r := runTest(ctx, p, argv, mounts, t)
			<-slots
			r.Submission = name
			mu.Lock()
			rs = append(rs, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return rs
}

// tempDir makes a directory that the sandbox user may write.
func tempDir() (string, error) {
	dir, err := os.MkdirTemp("", "grader-")
	if err == nil {
		err = os.Chmod(dir, 0o777)
	}
	return dir, err
}

// compile builds /src/name into /build/prog; it returns "" or what the
// compiler said first.
func compile(ctx context.Context, compiler, name string, mounts []sandbox.Option) string {
	var out bytes.Buffer
	cmd := sandbox.Command(compiler, "-O2", "-o", "/build/prog", "/src/"+name)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Stdout, cmd.Stderr = &out, &out
	res, err := sandbox.RunContext(ctx, cmd, append(mounts, sandbox.WithTimeout(30*time.Second),
		sandbox.WithMemory(512<<20), sandbox.WithPids(64), sandbox.WithOutputLimit(64<<10), sandbox.WithBestEffort())...)
	switch {
	case err != nil:
		return err.Error()
	case res.Status != sandbox.Exited || res.ExitCode != 0:
		line, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
		return fmt.Sprintf("%s (%s)", line, res.Status)
	}
	return ""
}

// runTest runs the program on one test, in a fresh work directory of its
// own (nothing a test leaves there reaches the next), and judges it.
func runTest(ctx context.Context, p *Problem, argv []string, mounts []sandbox.Option, test string) Result {
	r := Result{Test: testName(test)}
	work, err := tempDir()
	if err != nil {
		r.Verdict, r.Detail = RuntimeError, err.Error()
		return r
	}
	defer os.RemoveAll(work)
	mounts = append(slices.Clip(mounts), sandbox.WithWorkDir(work, "/work"))
	in, err := os.Open(test)
	if err != nil {
		r.Verdict, r.Detail = RuntimeError, err.Error()
		return r
	}
	defer in.Close()
	want, err := os.ReadFile(strings.TrimSuffix(test, ".in") + ".out")
	if err != nil {
		r.Verdict, r.Detail = RuntimeError, err.Error()
		return r
	}
	var out bytes.Buffer
	cmd := sandbox.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout = in, &out
	res, err := sandbox.RunContext(ctx, cmd, append(mounts,
		// A denied call is a verdict, not an EPERM the program may hide.
		sandbox.WithDockerDefaultKill(),
		sandbox.WithCPUTime(time.Duration(p.CPUTimeMS)*time.Millisecond),
		sandbox.WithTimeout(time.Duration(p.WallTimeMS)*time.Millisecond),
		sandbox.WithMemory(p.MemoryMiB<<20),
		sandbox.WithOutputLimit(p.OutputKiB<<10),
		sandbox.WithPids(64),
		sandbox.WithBestEffort(),
	)...)
	if err != nil {
		r.Verdict, r.Detail = RuntimeError, err.Error()
		return r
	}
	r.Time, r.Memory = res.CPUTime, res.PeakMemory
	switch res.Status {
	case sandbox.MemoryExceeded:
		r.Verdict = MemoryLimit
	case sandbox.CPUTimeExceeded, sandbox.Timeout:
		r.Verdict = TimeLimit
	case sandbox.OutputExceeded:
		r.Verdict = OutputLimit
	case sandbox.SeccompKilled:
		r.Verdict = SecurityViolation
		for _, v := range res.Violations {
			r.Detail = strings.TrimPrefix(r.Detail+", "+v.Syscall, ", ")
		}
	case sandbox.Exited:
		switch {
		case res.ExitCode != 0:
			r.Verdict, r.Detail = RuntimeError, fmt.Sprintf("exit %d", res.ExitCode)
		case strings.TrimSpace(out.String()) == strings.TrimSpace(string(want)):
			r.Verdict = Accepted
		default:
			r.Verdict = WrongAnswer
		}
	default:
		r.Verdict, r.Detail = RuntimeError, res.Signal.String()
	}
	return r
}

func testName(path string) string { return strings.TrimSuffix(filepath.Base(path), ".in") }

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func printTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBMISSION\tTEST\tVERDICT\tCPU\tMEMORY\tDETAIL")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f MiB\t%s\n", r.Submission, r.Test, r.Verdict,
			r.Time.Round(time.Millisecond), float64(r.Memory)/(1<<20), r.Detail)
	}
	tw.Flush()
}
