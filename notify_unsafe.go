//go:build linux && cgo

package sandbox

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompNotif is struct seccomp_notif: id, pid, flags, then struct
// seccomp_data (nr, arch, instruction_pointer, args[6]).
type seccompNotif [80]byte

func (n *seccompNotif) id() uint64   { return binary.NativeEndian.Uint64(n[0:]) }
func (n *seccompNotif) pid() int     { return int(binary.NativeEndian.Uint32(n[8:])) }
func (n *seccompNotif) nr() int32    { return int32(binary.NativeEndian.Uint32(n[16:])) }
func (n *seccompNotif) arch() uint32 { return binary.NativeEndian.Uint32(n[20:]) }

func (n *seccompNotif) args() (a [6]uint64) {
	for i := range a {
		a[i] = binary.NativeEndian.Uint64(n[32+8*i:])
	}
	return a
}

// notifRecv waits for the next notification on the listener fd.
func notifRecv(fd int, n *seccompNotif) error {
	*n = seccompNotif{}
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
}

// notifSend answers notification id: the call fails with errno.
func notifSend(fd int, id uint64, errno unix.Errno) error {
	var resp [24]byte // struct seccomp_notif_resp: id, val, error, flags
	binary.NativeEndian.PutUint64(resp[0:], id)
	binary.NativeEndian.PutUint32(resp[16:], uint32(-int32(errno)))
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp))
}

// notifIDValid says whether the caller of notification id still waits
// for its answer, which also means its pid is still its own.
func notifIDValid(fd int, id uint64) bool {
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}
