//go:build linux && cgo

package filter_test

import (
	"runtime"
	"testing"

	"github.com/gosandbox/sandbox/internal/filter"
	"golang.org/x/sys/unix"
)

// The guard denies TIOCSTI and TIOCLINUX on every ABI (on the command's
// low 32 bits), AF_VSOCK sockets when asked, and leaves every other call
// to the program behind it.
func TestGuard(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the table holds amd64's numbers")
	}
	allow := dockerDefault(t, nil)
	for _, vsock := range []bool{false, true} {
		g := vm(t, &filter.Filter{BPF: filter.Guard(allow.BPF, vsock, 0)})
		base := vm(t, allow)
		tests := []struct {
			name string
			arch uint32
			nr   int32
			args [6]uint64
			deny bool
		}{
			{"TIOCSTI", archX86_64, unix.SYS_IOCTL, [6]uint64{0, unix.TIOCSTI}, true},
			{"TIOCSTI, high bits set", archX86_64, unix.SYS_IOCTL, [6]uint64{0, 1<<32 | unix.TIOCSTI}, true},
			{"TIOCLINUX", archX86_64, unix.SYS_IOCTL, [6]uint64{0, 0x541c}, true},
			{"TIOCSTI on x32", archX86_64, 514 | 0x40000000, [6]uint64{0, unix.TIOCSTI}, true},
			{"TIOCSTI on i386", archI386, 54, [6]uint64{0, unix.TIOCSTI}, true},
			{"TCGETS", archX86_64, unix.SYS_IOCTL, [6]uint64{0, unix.TCGETS}, false},
			{"vsock", archX86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_VSOCK, unix.SOCK_STREAM}, vsock},
			{"vsock on i386", archI386, 359, [6]uint64{unix.AF_VSOCK, unix.SOCK_STREAM}, vsock},
			{"socketcall SYS_SOCKET on i386", archI386, 102, [6]uint64{1}, vsock},
			{"inet", archX86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, false},
			{"getpid", archX86_64, unix.SYS_GETPID, [6]uint64{}, false},
		}
		for _, tt := range tests {
			got, err := g.Decide(tt.arch, tt.nr, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := base.Decide(tt.arch, tt.nr, tt.args)
			if tt.deny {
				want = retErrno | uint32(unix.EPERM)
			}
			if got != want {
				t.Errorf("vsock %v, %s: %#x, want %#x", vsock, tt.name, got, want)
			}
		}
	}
}
