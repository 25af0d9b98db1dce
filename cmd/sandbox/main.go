//go:build linux

// Command sandbox runs a program in a sandbox from the command line.
//
//	sandbox run [flags] -- PROGRAM [ARG...]
//	sandbox profile show docker-default
//
// See "sandbox run --help".
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gosandbox/sandbox"
	"github.com/moby/profiles/seccomp"
)

// Exit statuses of the sandbox itself, as docker run and env(1) use them.
const (
	exitSetup         = 125
	exitNotExecutable = 126
	exitNotFound      = 127
)

func main() {
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	// The process-wide state (the cgroups kept for reuse, the zygote)
	// goes with the process: no leftovers.
	if err := sandbox.Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

const usage = `usage:
  sandbox run [flags] -- PROGRAM [ARG...]
  sandbox learn -o PROFILE.json [run flags] -- PROGRAM [ARG...]
  sandbox profile show docker-default

Run "sandbox run --help" and "sandbox learn --help" for the flags.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitSetup
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stdin, stdout, stderr, false, "")
	case "learn":
		return learnCmd(args[1:], stdin, stdout, stderr)
	case "profile":
		if len(args) == 3 && args[1] == "show" && args[2] == "docker-default" {
			b, err := json.MarshalIndent(seccomp.DefaultProfile(), "", "  ")
			if err != nil {
				fmt.Fprintf(stderr, "sandbox: %v\n", err)
				return exitSetup
			}
			fmt.Fprintf(stdout, "%s\n", b)
			return 0
		}
		if len(args) == 2 && (args[1] == "-h" || args[1] == "--help") {
			fmt.Fprint(stdout, profileHelp)
			return 0
		}
		if len(args) == 3 && args[1] == "show" {
			fmt.Fprintf(stderr, "sandbox: unknown profile %q (see sandbox profile --help)\n", args[2])
			return exitSetup
		}
		fmt.Fprint(stderr, profileHelp)
		return exitSetup
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "--version", "version":
		fmt.Fprintf(stdout, "sandbox %s\n", version())
		return 0
	}
	fmt.Fprintf(stderr, "sandbox: unknown command %q\n%s", args[0], usage)
	return exitSetup
}

const profileHelp = `usage: sandbox profile show docker-default

Prints Docker's whole default seccomp profile, its capability and kernel
conditions included, as Docker-format JSON. Fed back through --seccomp FILE
it behaves exactly like --seccomp docker-default: a starting point to edit.

Examples:
  sandbox profile show docker-default > mine.json
  sandbox run --seccomp mine.json -- sh -c 'id'
`

const runHelp = `usage: sandbox run [flags] -- PROGRAM [ARG...]

Runs PROGRAM as uid/gid 65534 with no capabilities and no_new_privs, in its
own user, pid, mount, ipc, uts, cgroup and (unless --network host) net
namespaces, on a fresh read-only root with the host's /usr, a private /etc,
/proc, /dev and a 64M /tmp, with only fds 0, 1 and 2 open, under Docker's
default seccomp profile. Its stdio is sandbox's own.

Every limit kill is a SIGKILL: exit 137, and --result's "status" names the
limit (timeout, cpu_time_exceeded, memory_exceeded, output_exceeded).

Exit status: PROGRAM's own; 128+N when signal N ended it (159 for a seccomp
SIGSYS, 137 for a strict-mode or limit kill); 125 when the sandbox could not be set
up; 126 when PROGRAM cannot be executed (or, with --seccomp strict, is not a
static executable); 127 when PROGRAM is not found inside the sandbox.

Examples:
  sandbox run -- sh -c 'id; hostname; ls /'
  sandbox run --seccomp mypolicy.json --result - -- sh -c 'mkdir t && chown 65534:65534 t'
  sandbox run --bind ./src:/src -- sh -c 'cp -r /src /tmp/b && make -C /tmp/b'
  sandbox run --tmpfs /tmp:512M --env LANG=C.UTF-8 -- python3 -c 'print(1)'
  sandbox run --seccomp strict --bind ./bin:/g -- /g/sum < numbers.txt
  sandbox run --timeout 2s --cpu-time 1s --memory 256M --output-limit 1M --result r.json --bind ./solution:/solution -- /solution

Flags:
`

// runFlags are the flags of "sandbox run".
type runFlags struct {
	seccomp, network, rootfs, workdir, result string
	binds, tmpfs, env                         listFlag
	timeout, cpuTime                          time.Duration
	memory, outputLimit                       sizeFlag
	pids                                      int64
	pidsSet, bestEffort                       bool
	seccompFlag                               onceFlag
	learnTo                                   string   // sandbox learn's -o
	learnOut                                  *outFile // learnTo's, opened before the run
}

const learnHelp = `usage: sandbox learn -o PROFILE.json [run flags] -- PROGRAM [ARG...]

Runs PROGRAM as "sandbox run" would, with every system call allowed but
recorded, and writes a minimal Docker-format profile to PROFILE.json:
defaultAction SCMP_ACT_ERRNO (EPERM), allowing exactly the calls PROGRAM and
its descendants made, plus what exec needs. It prints what it recorded.
Running PROGRAM again with --seccomp PROFILE.json then denies anything new,
and --result names it.

Examples:
  sandbox learn -o ls.json -- ls -l /
  sandbox run --seccomp ls.json --result - -- ls -l /
  sandbox learn -o py.json -- python3 -c 'print(sum(range(10)))'

  -o PROFILE.json
    	where the profile is written (required)

Flags (those of "sandbox run" but --seccomp):
`

// learnCmd is "sandbox learn": "sandbox run" that writes a profile.
func learnCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// -o is learn's own; the rest are run's.
	var out string
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			rest = append(rest, args[i:]...)
			i = len(args)
		case a == "-o" || a == "--o":
			if i+1 >= len(args) {
				fmt.Fprintln(stderr, "sandbox: learn: -o needs a file")
				return exitSetup
			}
			out = args[i+1]
			i++
		case strings.HasPrefix(a, "-o="):
			out = strings.TrimPrefix(a, "-o=")
		case a == "-h" || a == "--help":
			rest = append(rest, a)
		case a == "--seccomp" || strings.HasPrefix(a, "--seccomp="):
			fmt.Fprintln(stderr, "sandbox: learn: --seccomp: learn sets the policy itself")
			return exitSetup
		default:
			rest = append(rest, a)
		}
	}
	if out == "" && !slices.Contains(rest, "-h") && !slices.Contains(rest, "--help") {
		fmt.Fprintln(stderr, "sandbox: learn: -o PROFILE.json is required (see sandbox learn --help)")
		return exitSetup
	}
	return runCmd(rest, stdin, stdout, stderr, true, out)
}

// runCmd is "sandbox run", or with learn "sandbox learn" writing to
// learnTo.
func runCmd(args []string, stdin io.Reader, stdout, stderr io.Writer, learn bool, learnTo string) int {
	var f runFlags
	f.learnTo = learnTo
	f.seccomp = "docker-default"
	name, help := "sandbox run", runHelp
	if learn {
		name, help = "sandbox learn", learnHelp
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors are one line of ours, help goes to stdout: not the flag
	// package's own printing.
	fs.SetOutput(io.Discard)
	fs.Var(&f.seccompFlag, "seccomp", "docker-default | docker-default-kill | unconfined | strict | PATH to a Docker-format JSON profile")
	fs.StringVar(&f.network, "network", "none", "none (own net namespace, loopback only) | host")
	fs.StringVar(&f.rootfs, "rootfs", "", "use `DIR` as the read-only root instead of the default minimal root")
	fs.StringVar(&f.workdir, "workdir", "/tmp", "working `DIR`ectory inside")
	fs.StringVar(&f.result, "result", "", "write the result as JSON to `FILE` (- = stderr)")
	fs.Var(&f.binds, "bind", "bind mount `SRC[:DST[:rw]]`, read-only unless :rw; repeatable")
	fs.Var(&f.tmpfs, "tmpfs", "tmpfs mount `DST[:SIZE]` (binary suffixes K, M, G); repeatable; /tmp resizes the default")
	fs.Var(&f.env, "env", "`K=V` set inside; repeatable; only these and PATH are set")
	fs.DurationVar(&f.timeout, "timeout", 0, "wall-clock limit (a Go `duration`: 2s, 500ms)")
	fs.DurationVar(&f.cpuTime, "cpu-time", 0, "CPU-time limit of the whole sandbox (a Go `duration`)")
	fs.Var(&f.memory, "memory", "memory limit of the whole sandbox, `SIZE` in bytes with an optional K, M or G")
	fs.Int64Var(&f.pids, "pids", defaultPids, "max processes and threads (`N`; the default applies where cgroups can be made)")
	fs.Var(&f.outputLimit, "output-limit", "max bytes of stdout and stderr together (`SIZE`)")
	fs.BoolVar(&f.bestEffort, "best-effort", false, "fall back to rlimits for limits no cgroup can enforce here")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		err = fmt.Errorf("sandbox: %v (see %s --help)", err, name)
		fmt.Fprintln(stderr, err)
		f.writeEarlyResult(err, stderr)
		return exitSetup
	}
	if f.seccompFlag.set {
		f.seccomp = f.seccompFlag.value
	}
	fs.Visit(func(fl *flag.Flag) { f.pidsSet = f.pidsSet || fl.Name == "pids" })
	argv := fs.Args()
	// The files written after the run: their directories are opened
	// now, before the program could change them.
	var result *outFile
	if f.result != "" && f.result != "-" {
		var err error
		if result, err = openOut(f.result); err != nil {
			fmt.Fprintf(stderr, "sandbox: --result: %v\n", err)
			return exitSetup
		}
		defer result.close()
	}
	if f.learnTo != "" {
		var err error
		if f.learnOut, err = openOut(f.learnTo); err != nil {
			fmt.Fprintf(stderr, "sandbox: learn -o: %v\n", err)
			return exitSetup
		}
		defer f.learnOut.close()
	}
	res, err := f.execute(argv, stdin, stdout, stderr)
	if errors.Is(err, sandbox.ErrUnsupported) && !f.pidsSet && f.pids > 0 && !f.bestEffort {
		// Only the default pids limit could not be had (no cgroup
		// here, nothing started): run without it, and say so.
		fmt.Fprintf(stderr, "sandbox: the default --pids %d cannot be enforced here (no usable cgroup): running without a pids limit\n", f.pids)
		f.pids = 0
		res, err = f.execute(argv, stdin, stdout, stderr)
	}
	code := exitCode(res, err)
	if err != nil {
		fmt.Fprintf(stderr, "%s\n", oneLine(err))
	}
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "sandbox: warning: %s\n", w)
		}
		// After the program's own output: which limit ended it.
		if line := f.limitLine(res); line != "" {
			fmt.Fprintln(stderr, line)
		}
	}
	if f.result != "" {
		if werr := writeResult(result, res, err, code, stderr); werr != nil {
			fmt.Fprintf(stderr, "sandbox: --result: %v\n", werr)
			if code == 0 {
				code = exitSetup
			}
		}
	}
	return code
}

func (f *runFlags) execute(argv []string, stdin io.Reader, stdout, stderr io.Writer) (*sandbox.Result, error) {
	if len(argv) == 0 {
		return nil, errors.New("sandbox: run: no PROGRAM given (usage: sandbox run [flags] -- PROGRAM [ARG...])")
	}
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	cmd := sandbox.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + sandbox.DefaultPath}, f.env...)
	cmd.Dir = f.workdir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if f.learnTo == "" {
		return sandbox.Run(cmd, opts...)
	}
	profile, res, err := sandbox.Learn(cmd, opts...)
	if err != nil {
		return nil, err
	}
	if err := f.learnOut.write(append(profile, '\n')); err != nil {
		return nil, fmt.Errorf("sandbox: learn: %w", err)
	}
	var p struct{ Syscalls []struct{ Names []string } }
	if err := json.Unmarshal(profile, &p); err == nil && len(p.Syscalls) > 0 {
		fmt.Fprintf(stderr, "sandbox: learn: recorded %d syscalls, written to %s:\n  %s\n",
			len(p.Syscalls[0].Names), f.learnTo, strings.Join(p.Syscalls[0].Names, " "))
	}
	return res, nil
}

func (f *runFlags) options() ([]sandbox.Option, error) {
	var opts []sandbox.Option
	switch {
	case f.learnTo != "":
		// Learn sets the policy.
	case f.seccomp == "docker-default":
		opts = append(opts, sandbox.WithDockerDefault())
	case f.seccomp == "docker-default-kill":
		opts = append(opts, sandbox.WithDockerDefaultKill())
	case f.seccomp == "unconfined":
		opts = append(opts, sandbox.WithoutSeccomp())
	case f.seccomp == "strict":
		opts = append(opts, sandbox.WithStrict())
	case f.seccomp == "":
		return nil, errors.New("sandbox: --seccomp: empty")
	default:
		opts = append(opts, sandbox.WithProfileFile(f.seccomp))
	}
	switch f.network {
	case "none":
		opts = append(opts, sandbox.WithNetwork(sandbox.NetworkNone))
	case "host":
		opts = append(opts, sandbox.WithNetwork(sandbox.NetworkHost))
	default:
		return nil, fmt.Errorf("sandbox: --network %q: want none or host", f.network)
	}
	for _, b := range f.binds {
		src, dst, rw, err := parseBind(b)
		if err != nil {
			return nil, err
		}
		if rw {
			opts = append(opts, sandbox.WithBindRW(src, dst))
		} else {
			opts = append(opts, sandbox.WithBind(src, dst))
		}
	}
	for _, t := range f.tmpfs {
		dst, size, err := parseTmpfs(t)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sandbox.WithTmpfs(dst, size))
	}
	if f.rootfs != "" {
		opts = append(opts, sandbox.WithRootDir(f.rootfs))
	}
	for _, l := range []struct {
		set bool
		opt sandbox.Option
	}{
		{f.timeout != 0, sandbox.WithTimeout(f.timeout)},
		{f.cpuTime != 0, sandbox.WithCPUTime(f.cpuTime)},
		{f.memory != 0, sandbox.WithMemory(int64(f.memory))},
		{f.pids != 0, sandbox.WithPids(f.pids)},
		{f.outputLimit != 0, sandbox.WithOutputLimit(int64(f.outputLimit))},
		{f.bestEffort, sandbox.WithBestEffort()},
	} {
		if l.set {
			opts = append(opts, l.opt)
		}
	}
	return opts, nil
}

// exitCode maps an outcome to the CLI's exit status.
func exitCode(res *sandbox.Result, err error) int {
	switch {
	case errors.Is(err, sandbox.ErrNotFound):
		return exitNotFound
	case errors.Is(err, sandbox.ErrNotExecutable):
		return exitNotExecutable
	case err != nil:
		return exitSetup
	}
	return res.ExitCode
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// setupError is the --result of a run that did not start: the Result's
// fields, with the error.
type setupError struct {
	Status     string   `json:"status"`
	ExitCode   int      `json:"exit_code"`
	Violations []string `json:"violations"`
	Error      string   `json:"error"`
}

// writeResult writes the result to file, or to stderr when file is nil
// ("--result -").
func writeResult(file *outFile, res *sandbox.Result, err error, code int, stderr io.Writer) error {
	var b []byte
	var merr error
	if err != nil {
		b, merr = json.Marshal(setupError{Status: "setup_error", ExitCode: code, Violations: []string{}, Error: oneLine(err)})
	} else {
		b, merr = json.Marshal(res) // the SDK's own JSON
	}
	if merr != nil {
		return merr
	}
	b = append(b, '\n')
	if file == nil {
		_, werr := stderr.Write(b)
		return werr
	}
	return file.write(b)
}
