package sandbox

import (
	"fmt"
	"regexp"
	"time"

	"github.com/gosandbox/sandbox/rootfs"
)

// limits are the resource limits of a run; zero means none.
type limits struct {
	timeout    time.Duration
	cpuTime    time.Duration
	memory     int64
	pids       int64
	output     int64
	fileSize   int64
	openFiles  int64
	cpus       string
	bestEffort bool
}

// needCgroup says whether the limits need a cgroup.
func (l *limits) needCgroup() bool {
	return l.memory > 0 || l.pids > 0 || l.cpuTime > 0 || l.cpus != ""
}

// Enforcement says what enforced one limit of a run.
type Enforcement struct {
	// Limit is the limit: "timeout", "cpu-time", "memory", "pids",
	// "output", "file-size", "open-files", "cpus", or "owner DST" for
	// the owner of the files the program makes in a read-write bind at
	// DST.
	Limit string
	// Mechanism is what enforced it.
	Mechanism Mechanism
	// Detail says why a weaker mechanism stood in, or "".
	Detail string
}

// Mechanism is what enforced a limit. Its values are the CLI's names.
type Mechanism string

// The mechanisms.
const (
	MechanismCgroupV1    Mechanism = "cgroup v1"
	MechanismCgroupV2    Mechanism = "cgroup v2"
	MechanismRlimit      Mechanism = "rlimit"
	MechanismSupervisor  Mechanism = "supervisor" // a timer or the output collectors
	MechanismNone        Mechanism = "none"       // WithBestEffort let the run go on without it
	MechanismIdmap       Mechanism = "idmapped mount"
	MechanismSandboxUser Mechanism = "sandbox user" // files belong to the sandbox user's host id
)

// WithTimeout limits the wall-clock time of the run (default: none; a
// context deadline counts too). The supervisor's timer kills the whole
// sandbox with SIGKILL when it runs out: Status Timeout.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return &ConfigError{Input: "WithTimeout", Err: fmt.Errorf("%v is not positive", d)}
		}
		c.lim.timeout = d
		return nil
	}
}

// WithCPUTime limits the CPU time, user and system, of every process of
// the sandbox together, to the millisecond (default: none). The cgroup
// counts it (cpuacct on v1, cpu.stat on v2) and the supervisor kills the
// sandbox with SIGKILL when it is spent: Status CPUTimeExceeded. With
// WithBestEffort and no cgroup, RLIMIT_CPU (per process, whole seconds)
// stands in.
func WithCPUTime(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return &ConfigError{Input: "WithCPUTime", Err: fmt.Errorf("%v is not positive", d)}
		}
		c.lim.cpuTime = d
		return nil
	}
}

// WithMemory limits the memory of the whole sandbox, tmpfs pages included
// and no swap (default: none). The cgroup enforces it; when the kernel's
// OOM killer acts, the Status is MemoryExceeded (from the kernel's OOM
// event, never guessed from a SIGKILL). With WithBestEffort and no cgroup,
// RLIMIT_AS (per process: allocations fail) stands in.
func WithMemory(bytes int64) Option {
	return func(c *config) error {
		if bytes <= 0 {
			return &ConfigError{Input: "WithMemory", Err: fmt.Errorf("%d bytes is not positive", bytes)}
		}
		c.lim.memory = bytes
		return nil
	}
}

// WithPids limits the processes and threads of the sandbox (default:
// none; the CLI's default is 256). The cgroup's pids controller enforces
// it: fork and clone fail with EAGAIN past it. With WithBestEffort and no
// cgroup, RLIMIT_NPROC of the sandbox's own user namespace stands in.
func WithPids(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return &ConfigError{Input: "WithPids", Err: fmt.Errorf("%d is not positive", n)}
		}
		c.lim.pids = n
		return nil
	}
}

// WithOutputLimit limits the bytes of stdout and stderr together (default:
// none). The supervisor's collectors count them; past the limit the rest is
// discarded, the sandbox killed with SIGKILL, and the Status is
// OutputExceeded with OutputTruncated set. Stdout and Stderr files are then
// fed through pipes too.
func WithOutputLimit(bytes int64) Option {
	return func(c *config) error {
		if bytes <= 0 {
			return &ConfigError{Input: "WithOutputLimit", Err: fmt.Errorf("%d bytes is not positive", bytes)}
		}
		c.lim.output = bytes
		return nil
	}
}

// DefaultOutputLimit bounds what the collectors deliver to a writer that
// is not an *os.File (a bytes.Buffer grows with it), when WithOutputLimit
// is not given.
const DefaultOutputLimit = 256 << 20

// WithFileSize limits the size of any file a process writes (default:
// none), by RLIMIT_FSIZE: a write past it fails with EFBIG, or SIGXFSZ
// kills the process that has not blocked it.
func WithFileSize(bytes int64) Option {
	return func(c *config) error {
		if bytes <= 0 {
			return &ConfigError{Input: "WithFileSize", Err: fmt.Errorf("%d bytes is not positive", bytes)}
		}
		c.lim.fileSize = bytes
		return nil
	}
}

// WithOpenFiles limits the open files of each process (default: the
// caller's RLIMIT_NOFILE), by RLIMIT_NOFILE.
func WithOpenFiles(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return &ConfigError{Input: "WithOpenFiles", Err: fmt.Errorf("%d is not positive", n)}
		}
		c.lim.openFiles = n
		return nil
	}
}

var cpuList = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)

// WithCPUs pins the sandbox to a CPU list such as "1" or "0-1,3", for
// stable timings (default: all the caller may use). The cgroup's cpuset
// enforces it. With WithBestEffort and no cgroup it is not enforced.
func WithCPUs(list string) Option {
	return func(c *config) error {
		if !cpuList.MatchString(list) {
			return &ConfigError{Input: "WithCPUs", Err: fmt.Errorf("invalid CPU list %q (want e.g. 0-1,3)", list)}
		}
		c.lim.cpus = list
		return nil
	}
}

// WithBestEffort lets a run go on when a limit cannot be enforced as asked
// (no usable cgroup, rootless without delegation): the rlimit stand-ins
// are used where there are some, and Result.Enforced says what enforced
// each limit. Without it such a run fails with an *UnsupportedError
// (matching ErrUnsupported) that says what to do.
func WithBestEffort() Option {
	return func(c *config) error {
		c.lim.bestEffort = true
		return nil
	}
}

// WithTmpfsInodes limits the number of inodes (files, directories, links)
// of the tmpfs at dst: the default /tmp, or one made by WithTmpfs (given
// before). Past it, creating a file fails with ENOSPC.
func WithTmpfsInodes(dst string, n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return &ConfigError{Input: "WithTmpfsInodes(" + dst + ")", Err: fmt.Errorf("%d is not positive", n)}
		}
		for i := range c.root.Mounts {
			if m := &c.root.Mounts[i]; m.Kind == rootfs.Tmpfs && m.Target == dst {
				m.Inodes = n
				return nil
			}
		}
		if dst != "/tmp" {
			return &ConfigError{Input: "WithTmpfsInodes(" + dst + ")", Err: fmt.Errorf("no tmpfs at %s (give WithTmpfs first)", dst)}
		}
		c.root.TmpInodes = n
		return nil
	}
}
