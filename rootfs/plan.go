package rootfs

// The plan: the steps that build a root, as data.

import (
	"os"
	"path"
	"strconv"
)

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
			// Not followed (Validate refused a link; one swapped in
			// since fails at the capture, which does not follow it).
			fi, _ := os.Lstat(m.Source)
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
