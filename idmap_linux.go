//go:build linux && cgo

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/gosandbox/sandbox/rootfs"
	"golang.org/x/sys/unix"
)

// idmapped captures the caller's read-write binds, as root, as idmapped
// mounts (mount_setattr MOUNT_ATTR_IDMAP, Linux 5.12; ext4, xfs, btrfs,
// tmpfs 6.3+): the caller's uid and gid on disk are the sandbox user's
// inside, so a caller-owned 0700 directory is the program's to use, and
// the files it makes belong to the caller. Rootless there is nothing to
// do: the sandbox user is the caller already. It returns the detached
// mounts by target, for the launcher to attach (the capture needs the
// initial user namespace, which the launcher has left), and records in
// res what each bind's ownership is. A filesystem that cannot be
// idmapped keeps today's capture by the launcher.
func (c *config) idmapped(res *Result, hostUID, hostGID uint32) (map[string]*os.File, error) {
	caller := os.Geteuid()
	if caller != 0 || hostUID == uint32(caller) {
		return nil, nil
	}
	var out map[string]*os.File
	for _, m := range c.root.Mounts {
		if m.Kind != rootfs.Bind || !m.Writable {
			continue
		}
		f, err := idmapTree(m.Source, idmapKey{0, 0, hostUID, hostGID})
		e := Enforcement{Limit: "owner " + m.Target, Mechanism: MechanismIdmap}
		if err != nil {
			// Not for this filesystem: the files the program makes
			// belong to the sandbox user's host id.
			e.Mechanism = MechanismSandboxUser
			e.Detail = fmt.Sprintf("host %d:%d; no idmapped mount: %v", hostUID, hostGID, err)
		} else {
			if out == nil {
				out = map[string]*os.File{}
			}
			out[m.Target] = f
		}
		res.Enforced = append(res.Enforced, e)
	}
	return out, nil
}

// idmapKey is an idmapping: the on-disk ids (the caller's) and the host
// ids they appear as in the mount (the sandbox user's).
type idmapKey struct{ diskUID, diskGID, uid, gid uint32 }

// idmapTree clones the tree at src (its last component not followed) and
// idmaps it.
func idmapTree(src string, k idmapKey) (*os.File, error) {
	ns, err := idmapUserns(k)
	if err != nil {
		return nil, err
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return nil, fmt.Errorf("open_tree %q: %w", src, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV, Userns_fd: uint64(ns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount_setattr %q: %w", src, err)
	}
	return os.NewFile(uintptr(fd), src), nil
}

// idmapUsernses are user namespaces that describe idmappings, made once
// per process and mapping, kept open.
var idmapUsernses struct {
	sync.Mutex
	m map[idmapKey]*os.File
}

// idmapUserns returns a user namespace whose maps are k's: a helper
// process made in it (this executable as an idle zygote, so no program of
// the host's runs), whose ns/user is kept after it ends.
func idmapUserns(k idmapKey) (*os.File, error) {
	idmapUsernses.Lock()
	defer idmapUsernses.Unlock()
	if f := idmapUsernses.m[k]; f != nil {
		return f, nil
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(pair[0]), "idmap"), os.NewFile(uintptr(pair[1]), "idmap")
	defer ours.Close()
	cmd := &exec.Cmd{
		Path: "/proc/self/exe", Args: []string{"gosandbox-idmap"}, Dir: "/",
		Env:        []string{"_GOSANDBOX_ZYGOTE=3"},
		ExtraFiles: []*os.File{theirs},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: int(k.diskUID), HostID: int(k.uid), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: int(k.diskGID), HostID: int(k.gid), Size: 1}},
			Pdeathsig:   syscall.SIGKILL,
		},
	}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("a process for the idmapping: %w", err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	ours.Close() // the helper's socket ends: it exits
	if werr := cmd.Wait(); err == nil && werr != nil && !errors.As(werr, new(*exec.ExitError)) {
		err = werr
	}
	if err != nil {
		return nil, fmt.Errorf("the idmapping's user namespace: %w", err)
	}
	if idmapUsernses.m == nil {
		idmapUsernses.m = map[idmapKey]*os.File{}
	}
	idmapUsernses.m[k] = f
	return f, nil
}

// releaseIdmaps closes the idmappings' user namespaces.
func releaseIdmaps() {
	idmapUsernses.Lock()
	defer idmapUsernses.Unlock()
	for k, f := range idmapUsernses.m {
		f.Close()
		delete(idmapUsernses.m, k)
	}
}
