//go:build linux && cgo

package launch

/*
#include "launcher.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// zygote is this process's connection to its zygote (zygote.c), started on
// first use (or by Warm) and again if it dies.
type zygote struct {
	mu      sync.Mutex
	sock    int         // -1: none running
	running atomic.Bool // sock >= 0, for Warm to read without the lock
}

// Warm starts the zygote in the background if none runs, so that its
// start (an exec of this executable) overlaps with what the caller does
// before its first launch.
func Warm() {
	if zyg.running.Load() {
		return
	}
	go func() {
		zyg.mu.Lock()
		defer zyg.mu.Unlock()
		if zyg.sock < 0 {
			_ = zyg.start() // a failure is the next launch's to report
		}
	}()
}

var zyg = &zygote{sock: -1}

// ErrZygote is wrapped by errors about the zygote itself.
var ErrZygote = errors.New("launch: the zygote")

// StopZygote ends the zygote (it exits when its socket closes); the next
// launch starts another. Children it made go on.
func StopZygote() {
	zyg.mu.Lock()
	defer zyg.mu.Unlock()
	if zyg.sock >= 0 {
		unix.Close(zyg.sock)
		zyg.sock = -1
		zyg.running.Store(false)
	}
}

// spawn asks the zygote for a child: the block and its relocations, the
// fds it names, and at index cgroup (or -1) a cgroup v2 directory. It
// returns the child's pid or -errno, and whether the child was made in the
// cgroup.
func (z *zygote) spawn(flags uint64, blk []byte, relocs []uint32, cgroup int, fds []int) (pid int, inCgroup bool, err error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for try := 0; ; try++ {
		if z.sock < 0 {
			if err := z.start(); err != nil {
				return 0, false, err
			}
		}
		var sent bool
		pid, inCgroup, sent, err = z.request(flags, blk, relocs, cgroup, fds)
		if err == nil {
			return pid, inCgroup, nil
		}
		// This zygote is gone, or out of step: the next request starts
		// another.
		unix.Close(z.sock)
		z.sock = -1
		z.running.Store(false)
		// Once more, but only if it cannot have forked a child for
		// this request (it forks once it has the whole of it): a
		// second child would share the first's pipes, and either
		// could take the release meant for the other.
		if sent || try == 1 {
			return 0, false, err
		}
	}
}

// request sends one request and reads the answer; sent says the whole
// request went out, so the zygote may have forked for it.
func (z *zygote) request(flags uint64, blk []byte, relocs []uint32, cgroup int, fds []int) (pid int, inCgroup, sent bool, err error) {
	if sent, err := sendRequest(z.sock, flags, blk, relocs, cgroup, fds); err != nil {
		return 0, false, sent, fmt.Errorf("%w: send: %w", ErrZygote, err)
	}
	rep := make([]byte, unsafe.Sizeof(repl))
	if n, err := readFull(z.sock, rep); err != nil || n != len(rep) {
		return 0, false, true, fmt.Errorf("%w: no answer (%d bytes): %v", ErrZygote, n, err)
	}
	ne := binary.NativeEndian
	pid = int(int64(ne.Uint64(rep[unsafe.Offsetof(repl.pid):])))
	if pid == -int(unix.EPROTO) {
		return 0, false, true, fmt.Errorf("%w: out of step", ErrZygote)
	}
	return pid, ne.Uint32(rep[unsafe.Offsetof(repl.in_cgroup):]) != 0, true, nil
}

// sendRequest sends a struct sb_request, the relocations and the block on
// sock, with fds (SCM_RIGHTS): to the zygote, or to a parked child.
func sendRequest(sock int, flags uint64, blk []byte, relocs []uint32, cgroup int, fds []int) (sent bool, err error) {
	hdr := make([]byte, unsafe.Sizeof(req))
	ne := binary.NativeEndian
	ne.PutUint64(hdr[unsafe.Offsetof(req.clone_flags):], flags)
	ne.PutUint32(hdr[unsafe.Offsetof(req.size):], uint32(len(blk)))
	ne.PutUint32(hdr[unsafe.Offsetof(req.nrelocs):], uint32(len(relocs)))
	ne.PutUint32(hdr[unsafe.Offsetof(req.cgroup):], uint32(int32(cgroup)))
	body := make([]byte, (4*len(relocs)+7)&^7, (4*len(relocs)+7)&^7+len(blk))
	for i, r := range relocs {
		ne.PutUint32(body[4*i:], r)
	}
	body = append(body, blk...)
	err = unix.Sendmsg(sock, hdr, unix.UnixRights(fds...), nil, 0)
	for err == unix.EINTR {
		err = unix.Sendmsg(sock, hdr, unix.UnixRights(fds...), nil, 0)
	}
	if err != nil {
		return false, err
	}
	for len(body) > 0 {
		n, err := unix.Write(sock, body)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		body = body[n:]
	}
	return true, nil
}

// start starts a zygote: this executable again, which the constructor in
// zygote.c makes the zygote before its Go runtime would start.
func (z *zygote) start() error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%w: socketpair: %w", ErrZygote, err)
	}
	peer := os.NewFile(uintptr(pair[1]), "zygote")
	defer peer.Close()
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{"gosandbox-zygote"},
		// Not the caller's directory of the moment: it would be pinned
		// for the process's life, and passed to every child.
		Dir:        "/",
		Env:        []string{C.SB_ZYGOTE_ENV + "=3"},
		ExtraFiles: []*os.File{peer},
		// It dies with us; it also ends when its socket's other end
		// closes.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if err := onParentThread(cmd.Start); err != nil {
		unix.Close(pair[0])
		return fmt.Errorf("%w: start /proc/self/exe: %w", ErrZygote, err)
	}
	go cmd.Wait() // reaped when it ends
	z.sock = pair[0]
	z.running.Store(true)
	return nil
}

// onParentThread runs f on a thread kept for it. The zygote's parent is
// that thread, and so (CLONE_PARENT) is every child it makes: the
// parent-death signals of the zygote and of every sandbox fire when that
// thread ends, so it must not end before the process does. Go ends a
// thread only when a goroutine locked to it returns; this one never does.
func onParentThread(f func() error) error {
	done := make(chan error)
	parentThread() <- func() { done <- f() }
	return <-done
}

var parentThread = sync.OnceValue(func() chan<- func() {
	ch := make(chan func())
	go func() {
		runtime.LockOSThread() // for good: see onParentThread
		for f := range ch {
			f()
		}
	}()
	return ch
})
