//go:build linux && cgo

package sandbox

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// agentTimeout bounds the hand-over to a profile's seccomp agent: an
// agent that does not accept cannot hold the run's setup.
const agentTimeout = 5 * time.Second

// checkAgent refuses an agent that is not a process of the caller's own:
// one in another user or pid namespace than the supervisor, or of another
// uid than the caller's (or root). A program in a sandbox (this run's or
// another's) that made a socket at listenerPath, in a read-write bind,
// would otherwise get the listener of this run's filter, and could let
// through (SECCOMP_USER_NOTIF_FLAG_CONTINUE) the calls the profile hands
// the agent. The connect itself follows symlinks (no flag stops it); what
// answers is checked instead.
func checkAgent(uc *net.UnixConn) error {
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("the agent's credentials: %w", cerr)
	}
	self := os.Getpid()
	for _, kind := range []string{"user", "pid"} {
		if ours, theirs := nsInode(self, kind), nsInode(int(cred.Pid), kind); ours == 0 || theirs != ours {
			return fmt.Errorf("the agent (pid %d) is not in the supervisor's %s namespace: a sandboxed process cannot be the agent", cred.Pid, kind)
		}
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("the agent (pid %d) runs as uid %d, neither root nor the caller", cred.Pid, cred.Uid)
	}
	return nil
}

// sendToAgent hands the listener of a run's filter to the seccomp agent at
// path, as the runtime-spec's "listenerPath" says and runc does: one
// message on a new connection to the unix socket, holding the container
// process state as JSON (specs.ContainerProcessState, with metadata, the
// profile's listenerMetadata) and the listener by SCM_RIGHTS, named
// "seccompFd" in its fds. pid is the program's host pid.
func sendToAgent(path, metadata string, pid int, listener *os.File) error {
	state := specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      pid,
		Metadata: metadata,
		State: specs.State{
			Version: specs.Version,
			ID:      "gosandbox-" + strconv.Itoa(pid),
			Status:  specs.StateCreated,
			Pid:     pid,
		},
	}
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: agentTimeout}
	c, err := d.Dial("unix", path)
	if err != nil {
		return err
	}
	defer c.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%s: not a unix socket", path)
	}
	if err := checkAgent(uc); err != nil {
		return err
	}
	if err := uc.SetWriteDeadline(time.Now().Add(agentTimeout)); err != nil {
		return err
	}
	rc, err := listener.SyscallConn()
	if err != nil {
		return err
	}
	var n, oobn int
	cerr := rc.Control(func(fd uintptr) {
		n, oobn, err = uc.WriteMsgUnix(b, unix.UnixRights(int(fd)), nil)
	})
	switch {
	case cerr != nil:
		return cerr
	case err == nil && (n != len(b) || oobn == 0):
		return fmt.Errorf("short write to the agent (%d of %d bytes)", n, len(b))
	}
	return err
}
