package sandbox_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/gosandbox/sandbox"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
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

// SCMP_ACT_KILL and SCMP_ACT_KILL_THREAD kill the calling thread, as the
// runtime-spec and runc say; SCMP_ACT_KILL_PROCESS the process. A thread
// kill that the program survives is still reported where the kernel's
// audit records can be read (root); one that ends the program is always a
// SeccompKilled result.
func TestConformanceKillActions(t *testing.T) {
	audit := os.Geteuid() == 0
	for _, tc := range []struct {
		action string
		args   []string
		// want: survived (exit 0), or killed (SIGSYS)
		survives bool
		// the violation, as root; rootless a thread kill is named only
		// when it ends the program, as "unknown"
		want seen
	}{
		{"SCMP_ACT_KILL_THREAD", []string{"thread-mount"}, true, seen{"mount", "kill_thread", "audit"}},
		{"SCMP_ACT_KILL", []string{"thread-mount"}, true, seen{"mount", "kill_thread", "audit"}},
		{"SCMP_ACT_KILL", []string{"sys", "mount"}, false, seen{"mount", "kill_thread", "audit"}},
		{"SCMP_ACT_KILL_PROCESS", []string{"thread-mount"}, false, seen{"mount", "kill", "user-notification"}},
	} {
		t.Run(tc.action+"/"+tc.args[0], func(t *testing.T) {
			profile := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"` + tc.action + `"}]}`
			res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(profile))}, append([]string{"/probe/probe"}, tc.args...)...)
			if tc.survives {
				wantExit(t, res, out, 0)
				if out != "survived\n" {
					t.Errorf("output %q, want the program to outlive its thread", out)
				}
			} else if res.Status != sandbox.SeccompKilled || res.Signal != syscall.SIGSYS {
				t.Errorf("status %v signal %v, want SeccompKilled by SIGSYS: %s", res.Status, res.Signal, out)
			}
			want := []seen{tc.want}
			switch {
			case audit || tc.want.Source == "user-notification":
			case tc.survives:
				want = nil // nothing rootless can read names it
			default:
				want = []seen{{"unknown", "kill", "none"}}
			}
			if diff := cmp.Diff(want, violationsOf(res)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

// The runtime-spec's seccomp agent: with SCMP_ACT_NOTIFY rules and a
// listenerPath, the agent at that unix socket gets the container process
// state (with listenerMetadata) and the filter's listener by SCM_RIGHTS,
// and answers the calls itself: here getppid fails with EXDEV, an errno
// nothing else would give.
func TestConformanceNotifyAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	states := make(chan specs.ContainerProcessState, 1)
	go runAgent(t, ln, states, unix.EXDEV)

	profile := `{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"` + path + `","listenerMetadata":"meta-1",
		"syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"},{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}`
	nr := fmt.Sprint(syscall.SYS_GETPPID)
	res, out := run(t, []sandbox.Option{sandbox.WithProfile([]byte(profile))}, "/probe/probe", "nr", nr, fmt.Sprint(syscall.SYS_MOUNT))
	wantExit(t, res, out, 0)
	if want := fmt.Sprintf("%s %d\n%d %d\n", nr, unix.EXDEV, syscall.SYS_MOUNT, unix.EPERM); out != want {
		t.Errorf("output %q, want %q: getppid answered by the agent, mount denied", out, want)
	}
	select {
	case st := <-states:
		if st.Metadata != "meta-1" || !slices.Equal(st.Fds, []string{"seccompFd"}) || st.Pid <= 0 || st.State.Pid != st.Pid {
			t.Errorf("state %+v", st)
		}
	default:
		t.Error("the agent got no state")
	}

	// No agent listening: an error that names the socket, and nothing runs.
	ln.Close()
	_, out, err = runErr(t, []sandbox.Option{sandbox.WithProfile([]byte(profile))}, "/probe/probe", "nr", nr)
	var se *sandbox.SetupError
	if !errors.As(err, &se) || se.Path != path || out != "" {
		t.Errorf("with no agent: %v (output %q), want a SetupError naming %s", err, out, path)
	}
}

// runAgent accepts one connection on ln, reads the state and the listener,
// and answers every notification with errno.
func runAgent(t *testing.T, ln *net.UnixListener, states chan<- specs.ContainerProcessState, errno unix.Errno) {
	c, err := ln.AcceptUnix()
	if err != nil {
		return
	}
	defer c.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Errorf("agent: %v", err)
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Errorf("agent: control messages %v %v", msgs, err)
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Errorf("agent: fds %v %v", fds, err)
		return
	}
	lfd := fds[0]
	defer unix.Close(lfd)
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		t.Errorf("agent: state %q: %v", buf[:n], err)
		return
	}
	states <- st
	for {
		p := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(p, 5000); err != nil || p[0].Revents&unix.POLLIN == 0 {
			return // every process with the filter is gone
		}
		var req [80]byte // struct seccomp_notif
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(lfd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); e != 0 {
			continue
		}
		var resp [24]byte // struct seccomp_notif_resp: id, val, error, flags
		copy(resp[:8], req[:8])
		binary.NativeEndian.PutUint32(resp[16:], uint32(-int32(errno)))
		unix.Syscall(unix.SYS_IOCTL, uintptr(lfd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
	}
}

// A sandboxed program cannot be the agent: a socket that one makes at the
// listenerPath, in a read-write bind, is refused, so that no sandbox gets
// the listener of a filter (with it, it could let the agent's calls
// through). The run that would hand it over fails, naming the socket.
func TestConformanceAgentNotSandboxed(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	cmd := sandbox.Command("/usr/bin/python3", "-c", `import socket, time
s = socket.socket(socket.AF_UNIX)
s.bind("/w/agent.sock")
s.listen()
print("ready", flush=True)
c, _ = s.accept()
print("accepted", flush=True)
time.sleep(30)`)
	cmd.Stdout, cmd.Stderr = w, w
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rogue, err := sandbox.Start(ctx, cmd, sandbox.WithBindRW(dir, "/w"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(r)
	if line, err := lines.ReadString('\n'); line != "ready\n" {
		t.Fatalf("the sandboxed listener: %q %v", line, err)
	}
	go io.Copy(io.Discard, lines)
	path := filepath.Join(dir, "agent.sock")
	profile := `{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"` + path + `","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}`
	_, out, err := runErr(t, []sandbox.Option{sandbox.WithProfile([]byte(profile))}, "/probe/probe", "nr", fmt.Sprint(syscall.SYS_GETPPID))
	var se *sandbox.SetupError
	if !errors.As(err, &se) || se.Path != path || !strings.Contains(err.Error(), "namespace") {
		t.Errorf("an agent in a sandbox: %v (output %q), want a SetupError naming the socket and why", err, out)
	}
	cancel()
	rogue.Wait()
}
