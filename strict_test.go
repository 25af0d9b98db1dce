package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosandbox/sandbox"
	"github.com/gosandbox/sandbox/internal/testenv"
)

// guests builds the strict guests and returns the directory that holds
// them: echo, getpid, exitgroup, writes, sum.
func guests(t testing.TB) string {
	t.Helper()
	flags := []string{"-static", "-nostdlib", "-O2", "-Iexamples/strict/guest"}
	for _, g := range []string{"echo", "getpid", "exitgroup", "writes", "fault"} {
		testenv.BuildC(t, g, filepath.Join("testdata", "strict", g+".c"), flags...)
	}
	return filepath.Dir(testenv.BuildC(t, "sum", filepath.Join("examples", "strict", "guest", "sum.c"), flags...))
}

func runStrict(t *testing.T, stdin string, opts []sandbox.Option, guest string, args ...string) (*sandbox.Result, string, error) {
	t.Helper()
	cmd := sandbox.Command("/g/"+guest, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	opts = append([]sandbox.Option{sandbox.WithStrict(), sandbox.WithBind(guests(t), "/g")}, opts...)
	res, err := sandbox.Run(cmd, opts...)
	return res, out.String(), err
}

func TestStrictEcho(t *testing.T) {
	res, out, err := runStrict(t, "hello strict\n", nil, "echo")
	if err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, out, 0)
	if out != "hello strict\n" || res.SeccompMode != sandbox.Strict {
		t.Errorf("output %q mode %v", out, res.SeccompMode)
	}
	res, out, err = runStrict(t, "1 2 3 -10 1000000000000\n", nil, "sum")
	if err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, out, 0)
	if out != "999999999996\n" {
		t.Errorf("sum: %q", out)
	}
}

// A call outside the four kills with SIGKILL; what the guest wrote before
// arrives; the violation is named where the audit record can be read.
func TestStrictViolations(t *testing.T) {
	for _, tc := range []struct{ guest, out, call string }{
		{"getpid", "before getpid\n", "getpid"},
		{"exitgroup", "bye\n", "exit_group"},
	} {
		t.Run(tc.guest, func(t *testing.T) {
			res, out, err := runStrict(t, "", nil, tc.guest)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != sandbox.SeccompKilled || res.Signal != syscall.SIGKILL || res.ExitCode != 137 || res.SeccompMode != sandbox.Strict {
				t.Fatalf("status %v signal %v exit %d mode %v, want seccomp_killed SIGKILL 137 strict", res.Status, res.Signal, res.ExitCode, res.SeccompMode)
			}
			if out != tc.out {
				t.Errorf("output %q, want %q", out, tc.out)
			}
			if len(res.Violations) != 1 {
				t.Fatalf("violations %+v", res.Violations)
			}
			if v := res.Violations[0]; v.Syscall != tc.call || v.Action != "kill" || v.Arch == "" {
				t.Errorf("violation %+v, want %s", v, tc.call)
			}
		})
	}
}

// A SIGKILL the supervisor sends (a deadline) is not the policy's.
func TestStrictSupervisorKill(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	cmd := sandbox.Command("/g/echo")
	cmd.Stdin = r // never written: echo blocks in read
	res, err := sandbox.RunContext(ctx, cmd, sandbox.WithStrict(), sandbox.WithBind(guests(t), "/g"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.Timeout || res.Signal != syscall.SIGKILL || len(res.Violations) != 0 {
		t.Errorf("status %v signal %v violations %v, want timeout SIGKILL and none", res.Status, res.Signal, res.Violations)
	}
}

// While the guest blocks on read, the kernel says it is in strict mode.
func TestStrictProcStatus(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	token := "strict-status-" + strconv.Itoa(os.Getpid())
	done := make(chan error, 1)
	go func() {
		cmd := &sandbox.Cmd{Path: "/g/echo", Args: []string{token}, Stdin: r}
		res, err := sandbox.Run(cmd, sandbox.WithStrict(), sandbox.WithBind(guests(t), "/g"))
		if err == nil && res.ExitCode != 0 {
			err = errors.New("echo exited " + strconv.Itoa(res.ExitCode))
		}
		done <- err
	}()
	status := ""
	for deadline := time.Now().Add(5 * time.Second); status == "" && time.Now().Before(deadline); {
		status = findStatus(token)
		time.Sleep(5 * time.Millisecond)
	}
	w.Close() // EOF: echo exits
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "\nSeccomp:\t1\n") {
		t.Errorf("status of the guest:\n%s", status)
	}
}

// findStatus returns /proc/PID/status of the process whose argv[0] is
// token and that is blocked (state S), or "".
func findStatus(token string) string {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || string(bytes.TrimRight(cmdline, "\x00")) != token {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "status"))
		if strings.Contains(string(b), "\nState:\tS") {
			return string(b)
		}
	}
	return ""
}

// Anything but a static ELF executable of the native arch is refused
// before it runs.
func TestStrictRefuses(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755)
	// The echo guest marked as an aarch64 (or x86_64) ELF.
	b, err := os.ReadFile(filepath.Join(guests(t), "echo"))
	if err != nil {
		t.Fatal(err)
	}
	if isAMD64() {
		b[18], b[19] = 183, 0
	} else {
		b[18], b[19] = 62, 0
	}
	foreign := filepath.Join(dir, "foreign")
	os.WriteFile(foreign, b, 0o755)
	data := filepath.Join(dir, "data")
	os.WriteFile(data, []byte("just some bytes, more than sixty-four of them, to be sure: 0123456789"), 0o755)

	for _, tc := range []struct{ name, path, reason string }{
		{"dynamic", "/bin/true", "dynamic"},
		{"script", "/x/script", "script"},
		{"other arch", "/x/foreign", "another architecture"},
		{"not ELF", "/x/data", "not an ELF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			cmd := sandbox.Command(tc.path)
			cmd.Stdout = &out
			res, err := sandbox.Run(cmd, sandbox.WithStrict(), sandbox.WithBind(dir, "/x"))
			var ge *sandbox.GuestError
			if !errors.As(err, &ge) || !errors.Is(err, sandbox.ErrNotExecutable) {
				t.Fatalf("Run: %v (%T), %+v; want a GuestError", err, err, res)
			}
			if !strings.Contains(ge.Reason, tc.reason) {
				t.Errorf("reason %q, want %q", ge.Reason, tc.reason)
			}
			if out.Len() != 0 {
				t.Errorf("the refused program ran: %q", out.String())
			}
		})
	}
	if _, err := sandbox.Run(sandbox.Command("/no/such"), sandbox.WithStrict()); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("missing guest: %v", err)
	}
	if _, err := sandbox.Run(sandbox.Command("/bin/true"), sandbox.WithStrict(), sandbox.WithDockerDefault()); err == nil {
		t.Error("strict and a filter together were accepted")
	}
}
