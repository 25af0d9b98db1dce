//go:build linux && cgo

package filter_test

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Conformance with the runtime-spec and runc, one case per rule; the
// sandbox-level cases are in the root package's conformance_test.go.

// An errno rule without errnoRet gives EPERM, as the runtime-spec says,
// whatever the profile's defaultErrnoRet, which is its default action's
// alone (Podman's convention: ENOSYS by default, EPERM on purpose).
func TestConformanceErrnoRetDefault(t *testing.T) {
	if !isAMD64 {
		t.Skip("the numbers are amd64's")
	}
	f, err := load(t, `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
		{"names":["getppid"],"action":"SCMP_ACT_ERRNO"},
		{"names":["read","write","execve","exit_group"],"action":"SCMP_ACT_ALLOW"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	v := vm(t, f)
	for _, c := range []struct {
		nr   int32
		want uint32
	}{{unix.SYS_GETPPID, retErrno | uint32(unix.EPERM)}, {unix.SYS_GETPID, retErrno | uint32(unix.ENOSYS)}, {unix.SYS_WRITE, retAllow}} {
		if got, _ := v.Decide(archX86_64, c.nr, [6]uint64{}); got != c.want {
			t.Errorf("syscall %d: %#x, want %#x", c.nr, got, c.want)
		}
	}
}

// An errnoRet outside 1..4094 is refused with a message that says so.
func TestConformanceErrnoRetRange(t *testing.T) {
	for _, profile := range []string{
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":12345}]}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":4095}`,
	} {
		_, err := load(t, profile)
		if err == nil || !strings.Contains(err.Error(), "out of range (max 4094)") {
			t.Errorf("%s: %v, want an out-of-range error", profile, err)
		}
	}
}

// A profile's flags become the filter's SECCOMP_FILTER_FLAG_* bits; with
// none named, SPEC_ALLOW, as runc does; an unknown flag is an error that
// names it.
func TestConformanceFlags(t *testing.T) {
	tests := []struct {
		flags string
		want  uint32
		err   string
	}{
		{``, 1 << 2, ""},
		{`"flags":["SECCOMP_FILTER_FLAG_LOG"],`, 1 << 1, ""},
		{`"flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],`, 1<<1 | 1<<2 | 1<<5, ""},
		{`"flags":["SECCOMP_FILTER_FLAG_BOGUS"],`, 0, "SECCOMP_FILTER_FLAG_BOGUS"},
	}
	for _, tt := range tests {
		f, err := load(t, `{"defaultAction":"SCMP_ACT_ALLOW",`+tt.flags+`"syscalls":[]}`)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: %v, want an error naming %s", tt.flags, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.flags, err)
		case tt.err == "" && f.Flags != tt.want:
			t.Errorf("%s: flags %#x, want %#x", tt.flags, f.Flags, tt.want)
		}
	}
}

// A rule naming a syscall no table knows: an allow is skipped for it, and
// the skip is told (as runc and crun skip, with a warning); a denial under
// a default that allows stays an error, since skipping it would allow the
// call.
func TestConformanceUnknownNames(t *testing.T) {
	f, err := load(t, `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["frobnicate","read","write","execve","exit_group"],"action":"SCMP_ACT_ALLOW"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Skipped) != 1 || !strings.Contains(f.Skipped[0], "frobnicate") {
		t.Errorf("skipped %q, want the frobnicate rule", f.Skipped)
	}
	if got, _ := vm(t, f).Decide(archX86_64, int32(unix.SYS_READ), [6]uint64{}); isAMD64 && got != retAllow {
		t.Errorf("read: %#x, want the rest of the rule to hold", got)
	}
	_, err = load(t, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["frobnicate"],"action":"SCMP_ACT_ERRNO"}]}`)
	if err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("a denial of an unknown name under an allowing default: %v, want an error", err)
	}
}

// SCMP_ACT_TRACE is accepted (with no tracer the kernel fails the call
// with ENOSYS); SCMP_ACT_NOTIFY is the profile's agent's (listenerPath),
// and an error without one.
func TestConformanceTraceNotify(t *testing.T) {
	f, err := load(t, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_TRACE"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := vm(t, f).Decide(archX86_64, int32(unix.SYS_GETPPID), [6]uint64{}); isAMD64 && got&0xffff0000 != unix.SECCOMP_RET_TRACE {
		t.Errorf("getppid: %#x, want SECCOMP_RET_TRACE", got)
	}
	_, err = load(t, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}`)
	if err == nil || !strings.Contains(err.Error(), "listenerPath") {
		t.Errorf("NOTIFY: %v, want an error about the listener", err)
	}
	f, err = load(t, `{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if f.ListenerPath != "/run/agent.sock" || f.Notify != nil {
		t.Errorf("NOTIFY with a listenerPath: agent %q, own notify variant %v; want the agent's listener only", f.ListenerPath, f.Notify != nil)
	}
	if got, _ := vm(t, f).Decide(archX86_64, int32(unix.SYS_GETPPID), [6]uint64{}); isAMD64 && got != unix.SECCOMP_RET_USER_NOTIF {
		t.Errorf("getppid: %#x, want SECCOMP_RET_USER_NOTIF", got)
	}
}
