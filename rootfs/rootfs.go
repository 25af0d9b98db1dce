// Package rootfs plans the root file system of a sandbox: the list of
// mount, mkdir and file steps that build it, as plain data.
//
// Package sandbox runs the plan in the sandbox's child; this package does no
// system call but a few lstat calls on the host, so that the plan can be
// tested without privilege.
//
// A plan has two halves around a pivot. Before it, every bind source is
// captured as a detached mount (open_tree) while the host tree is still
// visible, a tmpfs (or the caller's root directory) is mounted at Base, and
// proc is mounted under it (a user namespace may mount proc only while a
// fully visible proc is in its mount namespace). After the pivot the host is
// gone: every later path is resolved inside the new root, so a symlink there
// can never lead to the host.
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

// plan accumulates steps.
type plan struct {
	steps []Step
	slots int
	dirs  map[string]bool // directories made or known to exist
}

func (p *plan) add(s Step) { p.steps = append(p.steps, s) }

func (p *plan) capture(stage, source string, attrSet uint64) int {
	slot := p.slots
	p.slots++
	p.add(Step{Op: OpCapture, Source: source, Slot: slot, AttrSet: attrSet, Recursive: true, Stage: stage})
	return slot
}

// mkdirAll makes dir and its missing parents.
func (p *plan) mkdirAll(stage, dir string, mode uint32) {
	if dir == "/" || p.dirs[dir] {
		return
	}
	p.mkdirAll(stage, path.Dir(dir), 0o755)
	p.add(Step{Op: OpMkdir, Target: dir, Mode: mode, Stage: stage})
	p.dirs[dir] = true
}

// Plan returns the steps that build the root described by s. Call Validate
// first. The result depends on the host's layout (merged /usr or not) as
// seen by lstat now.
func (s *Spec) Plan() []Step {
	p := &plan{dirs: map[string]bool{}}

	// Captures of every host source, before anything hides the host.
	type attach struct {
		slot   int
		target string
		isDir  bool
		stage  string
	}
	var attaches []attach
	var links []Step
	if s.RootDir == "" {
		for _, h := range hostPaths {
			fi, err := os.Lstat(h.path)
			switch {
			case err != nil:
				continue
			case fi.Mode()&os.ModeSymlink != 0:
				// A merged-/usr link such as /bin -> usr/bin (or
				// /etc/localtime's link) is made again, not bound.
				if target, err := os.Readlink(h.path); err == nil {
					links = append(links, Step{Op: OpSymlink, Source: target, Target: h.path, Stage: h.stage})
				}
			default:
				attaches = append(attaches, attach{p.capture(h.stage, h.path, roAttrs), h.path, fi.IsDir(), h.stage})
			}
		}
	}
	devSlots := make([]int, len(devices))
	for i, d := range devices {
		devSlots[i] = p.capture("dev", "/dev/"+d, devAttrs)
	}
	userSlots := make([]int, len(s.Mounts))
	for i, m := range s.Mounts {
		if m.Kind == Bind {
			attrs := uint64(roAttrs)
			if m.Writable {
				attrs = rwAttrs
			}
			userSlots[i] = p.capture("bind "+m.Target, m.Source, attrs)
		}
	}

	// The new root at Base, and proc while the host's proc is still there.
	if s.RootDir == "" {
		p.add(Step{Op: OpMount, Source: "tmpfs", Target: Base, FSType: "tmpfs",
			Flags: msNosuid | msNodev, Data: "mode=0755,size=1m,nr_inodes=4096", Stage: "root"})
		p.add(Step{Op: OpMkdir, Target: Base + "/proc", Mode: 0o555, Stage: "proc"})
	} else {
		slot := p.capture("root", s.RootDir, roAttrs)
		p.add(Step{Op: OpAttach, Slot: slot, Target: Base, Stage: "root"})
	}
	p.add(Step{Op: OpMount, Source: "proc", Target: Base + "/proc", FSType: "proc",
		Flags: msNosuid | msNodev | msNoexec, Stage: "proc"})
	p.add(Step{Op: OpPivot, Target: Base, Stage: "pivot"})

	// From here on every path is inside the new root.
	p.dirs["/proc"] = true
	if s.RootDir != "" {
		for _, d := range []string{"/dev", "/tmp", "/etc", "/usr"} {
			p.dirs[d] = true
		}
	}

	// Docker's masks: the kernel's memory, keys and timers are not the
	// sandbox's to read, and /proc/sys is not its to write
	// (runc CVE-2025-31133 and friends).
	for _, d := range maskedDirs {
		p.add(Step{Op: OpMount, Source: "tmpfs", Target: d, FSType: "tmpfs",
			Flags: msRdonly | msNosuid | msNodev | msNoexec, Data: "size=0", Optional: true, Stage: "proc"})
	}

	// /dev: a tmpfs with the usual nodes bound from the host.
	p.mkdirAll("dev", "/dev", 0o755)
	p.add(Step{Op: OpMount, Source: "tmpfs", Target: "/dev", FSType: "tmpfs",
		Flags: msNosuid | msNodev | msNoexec, Data: "mode=0755,size=64k,nr_inodes=64", Stage: "dev"})
	for i, d := range devices {
		p.add(Step{Op: OpCreate, Target: "/dev/" + d, Mode: 0o666, Stage: "dev"})
		p.add(Step{Op: OpAttach, Slot: devSlots[i], Target: "/dev/" + d, Stage: "dev"})
	}
	for _, l := range [][2]string{{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}, {"pts/ptmx", "/dev/ptmx"}} {
		p.add(Step{Op: OpSymlink, Source: l[0], Target: l[1], Stage: "dev"})
	}
	p.add(Step{Op: OpMkdir, Target: "/dev/pts", Mode: 0o755, Stage: "dev"})
	// devpts is the one mount that keeps dev: its nodes are the
	// sandbox's own ptys (newinstance), nothing of the host's.
	p.add(Step{Op: OpMount, Source: "devpts", Target: "/dev/pts", FSType: "devpts",
		Flags: msNosuid | msNoexec, Data: "newinstance,ptmxmode=0666,mode=620", Stage: "dev"})
	p.add(Step{Op: OpMkdir, Target: "/dev/shm", Mode: 0o1777, Stage: "dev"})
	p.add(Step{Op: OpMount, Source: "shm", Target: "/dev/shm", FSType: "tmpfs",
		Flags: msNosuid | msNodev | msNoexec, Data: tmpfsData(64<<20, 0), Stage: "dev"})

	for _, f := range maskedFiles {
		p.add(Step{Op: OpMount, Source: "/dev/null", Target: f, Flags: msBind, Optional: true, Stage: "proc"})
	}
	for _, r := range readonlyPaths {
		p.add(Step{Op: OpMount, Source: r, Target: r, Flags: msBind | msRec, Optional: true, Stage: "proc"})
		p.add(Step{Op: OpSetAttr, Target: r, AttrSet: AttrRdonly | AttrNosuid | AttrNodev | AttrNoexec,
			Recursive: true, Optional: true, Stage: "proc"})
	}

	// The system directories and a private /etc: no shadow, no host
	// accounts, nothing but what name lookups need.
	for _, a := range attaches {
		p.mkdirAll(a.stage, path.Dir(a.target), 0o755)
		if a.isDir {
			p.mkdirAll(a.stage, a.target, 0o755)
		} else {
			p.add(Step{Op: OpCreate, Target: a.target, Mode: 0o644, Stage: a.stage})
		}
		p.add(Step{Op: OpAttach, Slot: a.slot, Target: a.target, Stage: a.stage})
	}
	for _, l := range links {
		p.mkdirAll(l.Stage, path.Dir(l.Target), 0o755)
		p.add(l)
	}
	if s.RootDir == "" {
		p.mkdirAll("etc", "/etc", 0o755)
		for _, f := range s.etcFiles() {
			p.add(Step{Op: OpWriteFile, Target: f[0], Data: f[1], Mode: 0o644, Stage: "etc"})
		}
	}

	// /tmp, private to this run.
	tmp := tmpfsData(s.TmpSize, s.TmpInodes)
	for _, m := range s.Mounts {
		if m.Kind == Tmpfs && m.Target == "/tmp" {
			tmp = tmpfsData(m.Size, m.Inodes)
		}
	}
	p.mkdirAll("tmp", "/tmp", 0o1777)
	p.add(Step{Op: OpMount, Source: "tmpfs", Target: "/tmp", FSType: "tmpfs",
		Flags: msNosuid | msNodev, Data: tmp, Stage: "tmp"})

	// The caller's mounts, in order.
	for i, m := range s.Mounts {
		stage := "mount " + m.Target
		switch m.Kind {
		case Bind:
			fi, _ := os.Stat(m.Source)
			p.mkdirAll(stage, path.Dir(m.Target), 0o755)
			if fi != nil && !fi.IsDir() {
				p.add(Step{Op: OpCreate, Target: m.Target, Mode: 0o644, Stage: stage})
			} else {
				p.mkdirAll(stage, m.Target, 0o755)
			}
			p.add(Step{Op: OpAttach, Slot: userSlots[i], Target: m.Target, Stage: stage})
		case Tmpfs:
			if m.Target == "/tmp" {
				continue
			}
			p.mkdirAll(stage, m.Target, 0o755)
			p.add(Step{Op: OpMount, Source: "tmpfs", Target: m.Target, FSType: "tmpfs",
				Flags: msNosuid | msNodev, Data: tmpfsData(m.Size, m.Inodes), Stage: stage})
		}
	}

	// The root itself read-only, last: nothing the sandbox does can add a
	// file outside /tmp and the caller's writable mounts.
	p.add(Step{Op: OpSetAttr, Target: "/", AttrSet: roAttrs, Stage: "root"})
	return p.steps
}

// tmpfsData is the mount data of a tmpfs of size bytes and inodes inodes
// (0: the kernel's defaults).
// tmpfsData is the mount data of a tmpfs of size bytes and inodes inodes.
// With no inode count it has one per 4 KiB of its size: the kernel's
// default (half the RAM's pages) would let 300,000 empty files cost
// hundreds of MB of kernel memory that no size limit counts.
func tmpfsData(size, inodes int64) string {
	data := "mode=1777"
	if size > 0 {
		data += ",size=" + strconv.FormatInt(size, 10)
	}
	if inodes <= 0 && size > 0 {
		inodes = max(size/4096, 64)
	}
	if inodes > 0 {
		data += ",nr_inodes=" + strconv.FormatInt(inodes, 10)
	}
	return data
}

func (s *Spec) etcFiles() [][2]string {
	uid := strconv.FormatUint(uint64(s.UID), 10)
	gid := strconv.FormatUint(uint64(s.GID), 10)
	user := "sandbox"
	if s.UID == 0 {
		user = "root"
	}
	group := "sandbox"
	if s.GID == 0 {
		group = "root"
	}
	passwd := user + ":x:" + uid + ":" + gid + ":" + user + ":/tmp:/bin/sh\n"
	groups := group + ":x:" + gid + ":\n"
	if s.UID != 0 {
		passwd = "root:x:0:0:root:/root:/usr/sbin/nologin\n" + passwd
	}
	if s.GID != 0 {
		groups = "root:x:0:\n" + groups
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if s.Hostname != "" {
		hosts += "127.0.1.1\t" + s.Hostname + "\n"
	}
	return [][2]string{
		{"/etc/passwd", passwd},
		{"/etc/group", groups},
		{"/etc/hosts", hosts},
		{"/etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files\n"},
	}
}
