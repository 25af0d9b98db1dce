//go:build linux && cgo

package sandbox

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosandbox/sandbox/internal/filter"
	"github.com/gosandbox/sandbox/internal/ptrace"
	"golang.org/x/sys/unix"
)

// maxViolations bounds Result.Violations; ViolationCount counts them all.
const maxViolations = 64

// violations collects what the policy denied in one run.
type violations struct {
	mu    sync.Mutex
	list  []Violation
	count int
}

func (v *violations) add(x Violation) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.count++
	if len(v.list) < maxViolations {
		v.list = append(v.list, x)
	}
}

// notifier answers the user notifications of a run's filter: each is a
// call the profile denies with an errno (the filter's variant in which
// errno returns notify). It runs the profile's own program on the call to
// get the errno, bit for bit, answers with it and records the call.
// Allowed calls never reach it.
type notifier struct {
	lst  *os.File // non-blocking, in Go's netpoller
	vm   *filter.VM
	done chan struct{}
	out  *violations
	// killed is told the host pid of each process the notifier killed
	// for a kill action.
	killed func(pid int)
	// tokens and refilled are the rate limit's bucket.
	tokens   float64
	refilled time.Time
}

// The notifier answers at most denialRate denied calls a second, after a
// burst of denialBurst: a program that floods it with denied calls (each
// costs the supervisor a wake-up, two ioctls and a run of the filter, none
// of it charged to the sandbox) waits for each answer instead, blocked in
// the call. Programs deny-probe a few calls at most; this bounds what a
// hostile one costs the caller.
const (
	denialRate  = 10000
	denialBurst = 1000
)

// pace waits until the rate limit lets the next denied call be answered.
func (n *notifier) pace() {
	for {
		now := time.Now()
		n.tokens = min(denialBurst, n.tokens+now.Sub(n.refilled).Seconds()*denialRate)
		n.refilled = now
		if n.tokens >= 1 {
			n.tokens--
			return
		}
		// Ten answers' worth: shorter sleeps overshoot.
		time.Sleep(time.Millisecond)
	}
}

// startNotifier answers the calls of lst, a listener in Go's netpoller (as
// launch makes it): the loop waits there rather than on a thread of its
// own, and RECV is only called once the listener is readable, so it never
// blocks.
func startNotifier(lst *os.File, newVM func() (*filter.VM, error), out *violations, killed func(pid int)) (*notifier, error) {
	vm, err := newVM()
	if err != nil {
		return nil, err
	}
	n := &notifier{lst: lst, vm: vm, done: make(chan struct{}), out: out, killed: killed, tokens: denialBurst, refilled: time.Now()}
	go n.loop()
	return n, nil
}

func (n *notifier) loop() {
	defer close(n.done)
	rc, err := n.lst.SyscallConn()
	if err != nil {
		return
	}
	var req seccompNotif
	for {
		var got, hup bool
		err := rc.Read(func(fd uintptr) bool {
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			k, err := unix.Poll(p, 0)
			for err == unix.EINTR {
				// A signal came first (Go's preemption): no
				// answer. Waiting in the netpoller now could miss
				// a notification whose edge was seen already.
				k, err = unix.Poll(p, 0)
			}
			if err != nil || k == 0 {
				return false // nothing yet: wait in the netpoller
			}
			if p[0].Revents&unix.POLLIN == 0 {
				hup = true // no process has the filter any more
				return true
			}
			got = notifRecv(int(fd), &req) == nil
			return true
		})
		if err != nil || hup {
			return // closed by stop, or every process with the filter gone
		}
		if !got {
			continue // the caller died meanwhile (ENOENT), or a signal
		}
		n.pace()
		ret, err := n.vm.Decide(req.arch(), req.nr(), req.args())
		name, abi := filter.SyscallName(req.arch(), int(req.nr()))
		if name == "" {
			name = "unknown"
		}
		v := Violation{Syscall: name, Number: int(req.nr()), Arch: abi, Action: ActionErrno, Args: req.args(), Source: SourceNotification}
		if err == nil && filter.IsKill(ret) {
			// Named first, then killed: the caller waits,
			// killably, for an answer it never gets.
			v.Action = ActionKill
			n.out.add(v)
			_ = rc.Control(func(fd uintptr) {
				if pid, ok := killCaller(int(fd), &req); ok {
					n.killed(pid)
				}
			})
			continue
		}
		errno := unix.EPERM
		if err == nil && ret&0xffff0000 == 0x00050000 { // SECCOMP_RET_ERRNO
			errno = unix.Errno(ret & 0xffff)
		}
		_ = rc.Control(func(fd uintptr) { _ = notifSend(int(fd), req.id(), errno) }) // ENOENT: the caller is gone
		n.out.add(v)
	}
}

// killCaller kills, with SIGKILL, the process whose thread made the call
// of req (a kill action: the whole process), and returns its host pid.
// The pid is checked to be the caller's own, not a reused one: a pidfd
// pins the process, and the notification still being pending (ID_VALID)
// shows that its thread, and so the process, was alive meanwhile.
func killCaller(lfd int, req *seccompNotif) (int, bool) {
	tid := req.pid()
	pid := tgidOf(tid)
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(pfd)
	if pid != tid {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid)); err != nil {
			return 0, false
		}
	}
	if !notifIDValid(lfd, req.id()) {
		return 0, false
	}
	return pid, unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0) == nil
}

// tgidOf returns the process (thread group) of thread tid, or tid.
func tgidOf(tid int) int {
	if n := ptrace.ProcStatus(tid, "Tgid"); n > 0 {
		return n
	}
	return tid
}

// orphanWait bounds the wait for a listener to tell that no process has
// its filter any more: the kernel does so at once since 5.10; before, it
// never does, and the listener is closed instead. One wait that runs out
// is enough to know the kernel: noOrphanHup then skips the wait (if it
// ran out under load instead, later runs only close on their path again).
const orphanWait = 100 * time.Millisecond

var noOrphanHup atomic.Bool

// ended waits up to orphanWait for the loop to end on its own.
func (n *notifier) ended() bool {
	select {
	case <-n.done:
		return true
	default:
	}
	if noOrphanHup.Load() {
		return false
	}
	t := time.NewTimer(orphanWait)
	defer t.Stop()
	select {
	case <-n.done:
		return true
	case <-t.C:
		noOrphanHup.Store(true)
		return false
	}
}

// stop ends the loop and closes the listener.
func (n *notifier) stop() {
	n.lst.Close() // wakes a loop waiting in the netpoller
	<-n.done
}

// auditLog follows the kernel's seccomp audit records (type 1326) through
// the audit netlink multicast group, which needs CAP_AUDIT_READ (root). It
// is how a kill the kernel carried out is named: a thread kill (which the
// notifier cannot carry out: no one can kill a single thread of another
// process), or any kill where there is no notifier. The dead process's
// /proc/PID/syscall says nothing, and /dev/kmsg gets the records only
// through printk's rate limit (10 per 5 s). One goroutine serves the
// process.
type auditLog struct {
	sock *os.File // the netlink socket, non-blocking
	mu   sync.Mutex
	recs []auditRec
}

type auditRec struct {
	pid   int    // host pid (thread group) of the caller
	pidns uint64 // the inode of its pid namespace, or 0 if it was gone
	arch  uint32
	nr    int
	code  uint32 // the filter's SECCOMP_RET_* verdict
	at    time.Time
}

// auditState is the process's audit reader, started on first use and
// stopped by Shutdown.
var auditState struct {
	sync.Mutex
	log   *auditLog
	tried bool // nil log: none can be had (not root)
}

// audit returns the process's audit reader, or nil where the audit
// records cannot be read.
func audit() *auditLog {
	auditState.Lock()
	defer auditState.Unlock()
	if !auditState.tried {
		auditState.tried = true
		auditState.log = openAudit()
	}
	return auditState.log
}

// stopAudit stops the audit reader; the next audit starts another.
func stopAudit() {
	auditState.Lock()
	defer auditState.Unlock()
	if auditState.log != nil {
		auditState.log.sock.Close() // wakes the loop in the netpoller
	}
	auditState.log, auditState.tried = nil, false
}

func openAudit() *auditLog {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_AUDIT)
	if err != nil {
		return nil
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.AUDIT_NLGRP_READLOG}); err != nil {
		unix.Close(fd)
		return nil
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	// Non-blocking before it becomes a File: then it waits in Go's
	// netpoller, and Close wakes it.
	a := &auditLog{sock: os.NewFile(uintptr(fd), "audit")}
	go a.loop()
	return a
}

func (a *auditLog) loop() {
	rc, err := a.sock.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 1<<16)
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed by stopAudit
		}
		if rerr == unix.EINTR || rerr == unix.ENOBUFS {
			continue
		}
		if rerr != nil {
			return
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			typ := binary.NativeEndian.Uint16(b[4:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			if typ == 1326 { // AUDIT_SECCOMP
				a.record(b[unix.NLMSG_HDRLEN:l])
			}
			if l = (l + 3) &^ 3; l >= len(b) {
				break
			}
			b = b[l:]
		}
	}
}

// record keeps a record "... pid=N ... arch=c000003e syscall=N ...
// code=0x0" of a kill (other actions the kernel logs, such as
// SCMP_ACT_LOG's, are not violations).
func (a *auditLog) record(msg []byte) {
	pid, ok1 := auditField(msg, "pid=", 10)
	arch, ok2 := auditField(msg, "arch=", 16)
	nr, ok3 := auditField(msg, "syscall=", 10)
	code, ok4 := auditField(msg, "code=0x", 16)
	if !ok1 || !ok2 || !ok3 || !ok4 || !filter.IsKill(uint32(code)) {
		return
	}
	// The namespace is read now, while a process that lost one thread
	// still lives: it tells which run the record belongs to.
	pidns := nsInode(int(pid), "pid")
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = slices.DeleteFunc(a.recs, func(r auditRec) bool { return now.Sub(r.at) > 30*time.Second })
	a.recs = append(a.recs, auditRec{int(pid), pidns, uint32(arch), int(nr), uint32(code), now})
}

// take removes and returns the records of a run: those of pid, and with
// pidns not 0, those of every process in that pid namespace. With died, a
// kill ended pid: it waits up to a second for pid's record (the kernel's
// audit thread delivers it, later under load). Otherwise, with linger (the
// filter kills threads, which the program may have outlived, leaving no
// other trace), it gives the audit thread 20 ms to deliver their records;
// without, it takes what has come.
func (a *auditLog) take(pid int, pidns uint64, died, linger bool) []auditRec {
	var wait time.Duration
	switch {
	case died:
		wait = time.Second
	case linger:
		wait = 20 * time.Millisecond
	}
	deadline := time.Now().Add(wait)
	var out []auditRec
	for {
		a.mu.Lock()
		a.recs = slices.DeleteFunc(a.recs, func(r auditRec) bool {
			mine := r.pid == pid || (pidns != 0 && r.pidns == pidns)
			if mine {
				out = append(out, r)
			}
			return mine
		})
		a.mu.Unlock()
		if time.Now().After(deadline) || (died && slices.ContainsFunc(out, func(r auditRec) bool { return names(r, pid) })) {
			return out
		}
		time.Sleep(time.Millisecond)
	}
}

// names says r is a kill of the program, pid; a pid of 0 is a program
// that ended before its pid could be known (reaped by its init at once):
// then any record of the sandbox (taken by its pid namespace) stands for it.
func names(r auditRec, pid int) bool { return r.pid == pid || pid == 0 }

// nsInode returns the inode of pid's namespace of the kind, or 0.
func nsInode(pid int, kind string) uint64 {
	var st unix.Stat_t
	if unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/"+kind, &st) != nil {
		return 0
	}
	return st.Ino
}

// auditField parses the number after " key" in an audit record.
func auditField(rec []byte, key string, base int) (uint64, bool) {
	i := bytes.Index(rec, []byte(" "+key))
	if i < 0 {
		return 0, false
	}
	v := rec[i+1+len(key):]
	if j := bytes.IndexAny(v, " \n\x00"); j >= 0 {
		v = v[:j]
	}
	n, err := strconv.ParseUint(string(v), base, 64)
	return n, err == nil
}

// kernelKillViolations names the calls that the kernel's kill actions
// ended in a run whose program is pid, in pid namespace pidns (0: none of
// its own). died says the program itself died of one; if no record names
// its call, the violation says "unknown". threadKills says the filter
// kills threads (see take).
func kernelKillViolations(a *auditLog, pid int, pidns uint64, died, threadKills bool) []Violation {
	var recs []auditRec
	if a != nil {
		recs = a.take(pid, pidns, died, threadKills)
	}
	var out []Violation
	named := false
	for _, r := range recs {
		name, abi := filter.SyscallName(r.arch, r.nr)
		if name == "" {
			name = "unknown"
		}
		act := ActionKill
		if r.code&0xffff0000 == unix.SECCOMP_RET_KILL_THREAD {
			act = ActionKillThread
		}
		named = named || names(r, pid)
		out = append(out, Violation{Syscall: name, Number: r.nr, Arch: abi, Action: act, Source: SourceAudit})
	}
	if died && !named {
		out = append(out, Violation{Syscall: "unknown", Number: -1, Action: ActionKill, Source: SourceNone})
	}
	return out
}
