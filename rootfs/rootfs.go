package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Base is the host directory on which the new root is mounted, inside the
// sandbox's own mount namespace, before the pivot.
const Base = "/tmp"

// Kind is the kind of a caller's mount.
type Kind uint8

// The kinds of mounts.
const (
	// Bind mounts a host path (file or directory), read-only unless Writable.
	Bind Kind = iota + 1
	// Tmpfs mounts a fresh, empty tmpfs of Size bytes.
	Tmpfs
)

// Mount is a mount the caller asks for.
type Mount struct {
	Kind Kind
	// Source is the host path of a Bind.
	Source string
	// Target is the absolute path inside the sandbox.
	Target string
	// Writable makes a Bind read-write.
	Writable bool
	// Size is the size of a Tmpfs in bytes; 0 means the kernel default
	// (half of RAM).
	Size int64
	// Inodes is the number of inodes of a Tmpfs; 0 means the kernel
	// default.
	Inodes int64
}

// Spec describes a root.
type Spec struct {
	// RootDir, when set, is a host directory used read-only as the whole
	// root (an unpacked image, say) instead of the default minimal root.
	// It must have the directories proc, dev and tmp.
	RootDir string
	// Mounts are the caller's mounts, in order.
	Mounts []Mount
	// TmpSize is the size of /tmp in bytes.
	TmpSize int64
	// TmpInodes is the number of inodes of /tmp; 0 means the kernel
	// default.
	TmpInodes int64
	// UID and GID are the sandbox user, written to /etc/passwd and
	// /etc/group of the default root.
	UID, GID uint32
	// Hostname goes into /etc/hosts.
	Hostname string
}

// Op is the kind of a step.
type Op uint8

// The steps.
const (
	// OpCapture clones the mount tree at the host path Source (recursively)
	// with AttrSet and AttrClr applied, into Slot. Captures come first.
	OpCapture Op = iota + 1
	// OpAttach attaches the capture in Slot at Target.
	OpAttach
	// OpMkdir makes the directory Target with Mode.
	OpMkdir
	// OpCreate makes the empty file Target with Mode.
	OpCreate
	// OpSymlink makes Target a symbolic link to Source.
	OpSymlink
	// OpWriteFile makes Target a file with Data and Mode.
	OpWriteFile
	// OpMount is mount(Source, Target, FSType, Flags, Data).
	OpMount
	// OpSetAttr sets AttrSet and clears AttrClr on the mount at Target.
	OpSetAttr
	// OpPivot makes Target the root and detaches the old root.
	OpPivot
)

var opNames = map[Op]string{
	OpCapture: "open_tree", OpAttach: "move_mount", OpMkdir: "mkdir", OpCreate: "create",
	OpSymlink: "symlink", OpWriteFile: "write", OpMount: "mount", OpSetAttr: "mount_setattr", OpPivot: "pivot_root",
}

// String returns the system call the op stands for.
func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Mount attributes (MOUNT_ATTR_* of mount_setattr(2)).
const (
	AttrRdonly = 0x1
	AttrNosuid = 0x2
	AttrNodev  = 0x4
	AttrNoexec = 0x8
)

// Mount flags used in steps (MS_* of mount(2)).
const (
	msRdonly = 0x1
	msNosuid = 0x2
	msNodev  = 0x4
	msNoexec = 0x8
	msBind   = 0x1000
	msRec    = 0x4000
)

// Step is one step of a plan.
type Step struct {
	Op     Op
	Target string
	Source string
	FSType string
	Flags  uintptr
	Data   string
	Mode   uint32
	Slot   int
	// AttrSet and AttrClr are MOUNT_ATTR_* bits.
	AttrSet, AttrClr uint64
	// Recursive applies a OpCapture or OpSetAttr to submounts too.
	Recursive bool
	// Optional skips the step when its target does not exist.
	Optional bool
	// Stage names the part of the root the step builds, for errors.
	Stage string
}

// Docker's masked and read-only /proc paths (moby's oci/defaults.go).
var (
	maskedDirs  = []string{"/proc/acpi", "/proc/asound", "/proc/scsi"}
	maskedFiles = []string{"/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug"}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// The host's paths bound read-only into the default root (or made again
// when they are symbolic links): the system directories, and what of /etc
// the dynamic linker, alternatives and the time zone need.
var hostPaths = []struct{ path, stage string }{
	{"/usr", "system dirs"}, {"/bin", "system dirs"}, {"/sbin", "system dirs"}, {"/lib", "system dirs"},
	{"/lib64", "system dirs"}, {"/lib32", "system dirs"}, {"/libx32", "system dirs"},
	{"/etc/ld.so.cache", "etc"}, {"/etc/alternatives", "etc"}, {"/etc/localtime", "etc"},
}

// The device nodes bound into /dev.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// Every mount is nosuid (a setuid binary gains nothing) and nodev (no device
// node of the sandbox's making opens a host device); only the bound device
// nodes keep dev.
const (
	roAttrs  = AttrRdonly | AttrNosuid | AttrNodev
	rwAttrs  = AttrNosuid | AttrNodev
	devAttrs = AttrNosuid | AttrNoexec
)

// ErrBadMount is wrapped by every error about a caller's mount.
var ErrBadMount = errors.New("invalid mount")

// Validate checks the caller's mounts without touching the host but for
// lstat of bind sources.
func (s *Spec) Validate() error {
	for _, m := range s.Mounts {
		if err := checkTarget(m.Target); err != nil {
			return err
		}
		switch m.Kind {
		case Bind:
			if !path.IsAbs(m.Source) {
				return fmt.Errorf("%w: bind source %q is not an absolute path", ErrBadMount, m.Source)
			}
			// A symlink there may be an earlier program's, left in a
			// read-write bind to get a host file bound next time: it
			// is never followed (the capture does not follow it
			// either), the caller resolves it on purpose.
			fi, err := os.Lstat(m.Source)
			if err != nil {
				return fmt.Errorf("%w: bind source: %w", ErrBadMount, err)
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				return fmt.Errorf("%w: bind source %q is a symbolic link (bind the path it resolves to, if that is meant)", ErrBadMount, m.Source)
			}
		case Tmpfs:
			if m.Size < 0 {
				return fmt.Errorf("%w: tmpfs %q: negative size %d", ErrBadMount, m.Target, m.Size)
			}
		default:
			return fmt.Errorf("%w: %q: unknown kind %d", ErrBadMount, m.Target, m.Kind)
		}
	}
	if s.RootDir != "" {
		if !path.IsAbs(s.RootDir) {
			return fmt.Errorf("%w: root directory %q is not an absolute path", ErrBadMount, s.RootDir)
		}
		fi, err := os.Lstat(s.RootDir)
		if err != nil {
			return fmt.Errorf("%w: root directory: %w", ErrBadMount, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: root directory %q is %s, not a directory", ErrBadMount, s.RootDir, kindOf(fi))
		}
		// The sandbox mounts its own there: an image whose /proc is a
		// symlink would move /proc (and drop every mask) elsewhere.
		for _, d := range []string{"proc", "dev", "tmp", "sys"} {
			p := path.Join(s.RootDir, d)
			fi, err := os.Lstat(p)
			switch {
			case errors.Is(err, os.ErrNotExist) && d == "sys":
			case err != nil:
				return fmt.Errorf("%w: root directory: %w", ErrBadMount, err)
			case !fi.IsDir():
				return fmt.Errorf("%w: root directory: %q is %s, not a directory (the sandbox mounts its own /%s there)", ErrBadMount, p, kindOf(fi), d)
			}
		}
	}
	if s.TmpSize < 0 {
		return fmt.Errorf("%w: /tmp: negative size %d", ErrBadMount, s.TmpSize)
	}
	return nil
}

func kindOf(fi os.FileInfo) string {
	if fi.Mode()&os.ModeSymlink != 0 {
		return "a symbolic link"
	}
	return "a file"
}

func checkTarget(t string) error {
	switch {
	case !path.IsAbs(t):
		return fmt.Errorf("%w: target %q is not an absolute path", ErrBadMount, t)
	case path.Clean(t) != t:
		return fmt.Errorf("%w: target %q is not clean (want %q)", ErrBadMount, t, path.Clean(t))
	case t == "/":
		return fmt.Errorf("%w: target %q: use a root directory to replace the root", ErrBadMount, t)
	case t == "/proc" || strings.HasPrefix(t, "/proc/"):
		return fmt.Errorf("%w: target %q: /proc is the sandbox's own", ErrBadMount, t)
	case strings.HasPrefix(t, "/dev/fd/") || slices.Contains([]string{"/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"}, t):
		// Links into /proc/self/fd: a target there would be resolved
		// through the launcher's own fds, which reach the host.
		return fmt.Errorf("%w: target %q: it leads into /proc/self/fd", ErrBadMount, t)
	case strings.ContainsRune(t, 0):
		return fmt.Errorf("%w: target %q has a NUL byte", ErrBadMount, t)
	}
	return nil
}
