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
