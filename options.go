package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/gosandbox/sandbox/ns"
	"github.com/gosandbox/sandbox/rootfs"
)

// Option configures a sandbox. Options are named WithX (or WithoutX); they
// are applied in order and the combination is checked before any process
// exists, so a bad option fails Run with a *ConfigError and starts nothing.
type Option func(*config) error

// Network is the network a sandbox sees.
type Network uint8

// The networks.
const (
	// NetworkNone is a network namespace of the sandbox's own, with only
	// its loopback up. The default.
	NetworkNone Network = iota + 1
	// NetworkHost is the host's network (no network namespace).
	NetworkHost
)

// Defaults.
const (
	// DefaultHostname is the sandbox's host name.
	DefaultHostname = "sandbox"
	// DefaultUID and DefaultGID are the sandbox user inside.
	DefaultUID = 65534
	DefaultGID = 65534
	// DefaultTmpSize is the size of the sandbox's /tmp, in bytes.
	DefaultTmpSize = 64 << 20
	// DefaultPath is Docker's PATH: the program's when Cmd.Env is nil,
	// and where a program name is looked up when Env has no PATH.
	DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// policy is a seccomp policy and its BPF program, compiled once.
type policy struct {
	mode    SeccompMode
	compile func() (*program, error) // nil for Unconfined and Strict
}

// program is a compiled filter: the profile's program, and its variant
// whose errno returns notify the supervisor (nil where that cannot be),
// and the SECCOMP_FILTER_FLAG_* to install them with.
type program struct {
	bpf, notify []byte
	flags       uint32
	warnings    []string // what of the profile was not applied
	threadKills bool     // some verdict is KILL_THREAD, which the kernel carries out
	// agent is the profile's listenerPath and listenerMetadata: the
	// listener of bpf goes there. "" : none.
	agent, agentMetadata string

	// The guarded variants (guarded), made once: with and without
	// AF_VSOCK denied.
	guardOnce [2]sync.Once
	guard     [2]*program

	// bpf made ready for the notifier to judge calls by (machine, in
	// filter.go), at its first use, for every run of the program.
	vmOnce sync.Once
	vm     any // *filter.VM
	vmErr  error
}

var unconfinedPolicy = &policy{mode: Unconfined}

type config struct {
	policy     *policy
	namespaces ns.Set
	network    Network // 0: not set
	root       rootfs.Spec
	hostname   string // "" : not set
	uidSet     bool
	env        []string
	workDir    string // the inside path of WithWorkDir
	lim        limits
	learn      *learned // a Learn run's record, or nil
	noInit     bool     // WithoutInit
	direct     bool     // WithDirectFiles
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		namespaces: ns.All,
		root:       rootfs.Spec{TmpSize: DefaultTmpSize, UID: DefaultUID, GID: DefaultGID},
	}
	for _, o := range opts {
		if o == nil {
			return nil, &ConfigError{Input: "options", Err: errors.New("nil Option")}
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.policy == nil {
		c.policy = dockerDefaultPolicy
	}
	return c, c.check()
}

// check validates the combination of options.
func (c *config) check() error {
	switch {
	case c.network == NetworkNone && !c.namespaces.Has(ns.Net):
		return &ConfigError{Input: "WithNetwork(NetworkNone)", Err: errors.New("conflicts with WithoutNamespaces(ns.Net)")}
	case c.network == NetworkHost:
		c.namespaces &^= ns.Net
	}
	if c.hostname != "" && !c.namespaces.Has(ns.UTS) {
		return &ConfigError{Input: "WithHostname", Err: errors.New("conflicts with WithoutNamespaces(ns.UTS)")}
	}
	if c.hostname == "" {
		c.hostname = DefaultHostname
	}
	if !c.namespaces.Has(ns.Mount) && (len(c.root.Mounts) > 0 || c.root.RootDir != "") {
		return &ConfigError{Input: "mounts", Err: errors.New("need the mount namespace (conflicts with WithoutNamespaces(ns.Mount))")}
	}
	if !c.namespaces.Has(ns.User) && os.Geteuid() != 0 {
		return &UnsupportedError{What: "WithoutNamespaces(ns.User)", Err: errors.New("without a user namespace only host root can build a sandbox")}
	}
	if c.namespaces.Has(ns.Mount) {
		if err := c.root.Validate(); err != nil {
			return &ConfigError{Input: "mounts", Err: err}
		}
	}
	seen := map[string]bool{}
	for _, m := range c.root.Mounts {
		if seen[m.Target] {
			return &ConfigError{Input: "mounts", Err: fmt.Errorf("two mounts at %q", m.Target)}
		}
		seen[m.Target] = true
	}
	return nil
}

// WithDockerDefault runs the program under Docker's default seccomp profile,
// as Docker resolves it for a container with no capabilities on this
// architecture and kernel: denied calls fail with EPERM (clone3 with
// ENOSYS). This is the default.
func WithDockerDefault() Option { return withPolicy("WithDockerDefault", dockerDefaultPolicy) }

// WithDockerDefaultKill is WithDockerDefault with the default action switched
// to killing the whole process, so that a denied call gives a verdict
// (Status SeccompKilled, SIGSYS) rather than an EPERM the program may hide.
// The profile's explicit errno rules (clone3's ENOSYS) stay.
func WithDockerDefaultKill() Option {
	return withPolicy("WithDockerDefaultKill", dockerDefaultKillPolicy)
}

// WithoutSeccomp runs the program with no seccomp filter. The namespaces,
// root and credentials still apply.
func WithoutSeccomp() Option { return withPolicy("WithoutSeccomp", unconfinedPolicy) }

// WithProfile runs the program under a Docker-format JSON seccomp profile:
// the legacy "name" form or "names", args, errnoRet, defaultErrnoRet,
// includes and excludes (resolved for no capabilities, this architecture and
// kernel), flags, listenerPath. The actions mean what the runtime-spec
// says (the README has the table): SCMP_ACT_KILL and SCMP_ACT_KILL_THREAD
// kill the calling thread, SCMP_ACT_KILL_PROCESS the process, and
// SCMP_ACT_NOTIFY hands the filter's listener to the agent at listenerPath.
// Calls it denies with an errno are reported in Result.Violations when the
// profile allows read, write and execve (with which the launcher hands the
// supervisor its listener), as Docker's and learned profiles do.
func WithProfile(json []byte) Option {
	return func(c *config) error {
		p, err := customPolicy("seccomp profile (inline)", json)
		if err != nil {
			return err
		}
		return setPolicy(c, "WithProfile", p)
	}
}

// MaxProfileSize is the largest profile file WithProfileFile reads.
const MaxProfileSize = 1 << 20

// WithProfileFile is WithProfile with the profile read from a file: a
// regular file of at most MaxProfileSize bytes (a FIFO, a device or a
// directory is refused with a *ConfigError, never read).
func WithProfileFile(file string) Option {
	return func(c *config) error {
		input := fmt.Sprintf("seccomp profile %q", file)
		b, err := readProfileFile(file)
		if err != nil {
			return &ConfigError{Input: input, Err: err}
		}
		p, err := customPolicy(input, b)
		if err != nil {
			return err
		}
		return setPolicy(c, "WithProfileFile", p)
	}
}

// readProfileFile reads a profile file, refusing what would hang the
// caller (a FIFO nobody writes) or fill its memory (/dev/zero).
func readProfileFile(file string) ([]byte, error) {
	// Non-blocking: the open of a FIFO would wait for a writer.
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxProfileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxProfileSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxProfileSize)
	}
	return b, nil
}

func withPolicy(name string, p *policy) Option {
	return func(c *config) error { return setPolicy(c, name, p) }
}

func setPolicy(c *config, name string, p *policy) error {
	if c.policy != nil {
		return &ConfigError{Input: name, Err: fmt.Errorf("a seccomp policy (%s) is set already", c.policy.mode)}
	}
	c.policy = p
	return nil
}

// WithoutNamespaces turns off namespaces (all are on by default). Without
// ns.User only host root can build a sandbox, and the program then runs as
// the host ids given to WithUser (65534 by default) with no capabilities.
// Without ns.Mount there is no private root: the program sees the host's
// files, and mount options are refused. Without ns.PID the program's
// descendants may outlive it, and it sees the host's processes: rootless,
// where the sandbox user is the caller's uid on the host, it can then
// signal and ptrace the caller's own processes, the supervisor included.
func WithoutNamespaces(s ns.Set) Option {
	return func(c *config) error {
		if s&^ns.All != 0 {
			return &ConfigError{Input: "WithoutNamespaces", Err: fmt.Errorf("unknown namespaces %s", s&^ns.All)}
		}
		c.namespaces &^= s
		return nil
	}
}

// WithoutInit runs the program as pid 1 of its pid namespace, with no init
// before it. By default a minimal init is pid 1 (the launcher itself, no
// extra exec): it forwards the signals the sandbox gets to the program,
// reaps orphans, and reports the program's exact wait status, and its end
// kills what is left in the namespace. Without it the program is pid 1,
// and the kernel drops every signal that it has no handler for, its own
// included: abort() and a failed assert() end with SIGSEGV rather than
// SIGABRT, raise(SIGTERM) and kill $$ do nothing, and a fault under
// ptrace (strict mode, learning) repeats for ever. Orphans are reaped
// only if the program does it. WithoutNamespaces(ns.PID) has no init
// either.
func WithoutInit() Option {
	return func(c *config) error {
		c.noInit = true
		return nil
	}
}

// WithDirectFiles passes an *os.File in Cmd.Stdin, Cmd.Stdout or
// Cmd.Stderr to the program as it is, whatever it is. By default only
// pipes and character devices are; a regular file or a socket goes
// through a pipe. Passed as it is, the program gets the caller's open file
// description: it can read what the file held before (through
// /proc/self/fd, or by seeking), truncate and rewrite it, and write to a
// socket's peer. Use it for files made for the run alone.
func WithDirectFiles() Option {
	return func(c *config) error {
		c.direct = true
		return nil
	}
}

// WithNetwork chooses the network: NetworkNone (the default) or NetworkHost.
func WithNetwork(n Network) Option {
	return func(c *config) error {
		if n != NetworkNone && n != NetworkHost {
			return &ConfigError{Input: "WithNetwork", Err: fmt.Errorf("unknown network %d", n)}
		}
		if c.network != 0 && c.network != n {
			return &ConfigError{Input: "WithNetwork", Err: errors.New("set twice to different networks")}
		}
		c.network = n
		return nil
	}
}

// WithBind bind-mounts the host path src (a file or directory, with its
// submounts) read-only at the absolute path dst inside.
//
// src must not be a symbolic link: one there may have been planted by an
// earlier sandboxed program with a read-write bind over its directory, to
// have a host file bound next time, so it is refused with a *ConfigError
// rather than followed (the launcher's capture does not follow one either,
// should it appear after the check). Resolve it first (filepath.EvalSymlinks)
// when binding what it points to is meant. Links in the path before the
// last component are followed: they are the caller's to trust. dst must not
// lead into /proc or /dev/fd, which are the sandbox's own.
func WithBind(src, dst string) Option {
	return withMount(rootfs.Mount{Kind: rootfs.Bind, Source: src, Target: dst})
}

// WithBindRW is WithBind, read-write. Writes reach the host.
//
// Ownership: as root, the bind is an idmapped mount (Linux 5.12; ext4,
// xfs, btrfs, tmpfs 6.3+) on which the caller's uid and gid are the
// sandbox user's: a caller-owned 0700 directory is the program's to use,
// and the files it makes belong to the caller. Where the filesystem cannot
// be idmapped, the program works in it as the sandbox user's host id
// (65534), which needs a directory that id may write; Result.Enforced says
// which ("owner DST"). Rootless, the sandbox user is the caller already.
// What the program leaves there is its own to shape: never follow a link
// in it with privilege afterwards.
func WithBindRW(src, dst string) Option {
	return withMount(rootfs.Mount{Kind: rootfs.Bind, Source: src, Target: dst, Writable: true})
}

// WithTmpfs mounts a fresh tmpfs of size bytes (nosuid, nodev) at dst.
// WithTmpfs("/tmp", size) resizes the default /tmp.
func WithTmpfs(dst string, size int64) Option {
	return func(c *config) error {
		if size <= 0 {
			return &ConfigError{Input: "WithTmpfs(" + dst + ")", Err: fmt.Errorf("size %d is not positive", size)}
		}
		return withMount(rootfs.Mount{Kind: rootfs.Tmpfs, Target: dst, Size: size})(c)
	}
}

func withMount(m rootfs.Mount) Option {
	return func(c *config) error {
		c.root.Mounts = append(c.root.Mounts, m)
		return nil
	}
}

// WithRootDir uses the host directory dir, read-only, as the whole root (an
// unpacked image, say) instead of the default minimal root. The directory
// must have proc, dev and tmp in it; the sandbox mounts its own there.
func WithRootDir(dir string) Option {
	return func(c *config) error {
		c.root.RootDir = dir
		return nil
	}
}

// WithWorkDir bind-mounts the host directory hostDir read-write at dir
// inside and starts the program there (a grader's submission directory,
// say), with WithBindRW's ownership rule. Cmd.Dir, if set, must be dir.
func WithWorkDir(hostDir, dir string) Option {
	return func(c *config) error {
		if c.workDir != "" {
			return &ConfigError{Input: "WithWorkDir", Err: errors.New("given twice")}
		}
		c.workDir = dir
		return withMount(rootfs.Mount{Kind: rootfs.Bind, Source: hostDir, Target: dir, Writable: true})(c)
	}
}

// WithHostname sets the host name inside (default "sandbox").
func WithHostname(name string) Option {
	return func(c *config) error {
		if name == "" || len(name) > 64 || strings.ContainsAny(name, "\x00/ \n") {
			return &ConfigError{Input: "WithHostname", Err: fmt.Errorf("invalid host name %q", name)}
		}
		c.hostname = name
		return nil
	}
}

// WithUser sets the uid and gid the program runs as inside (default
// 65534:65534). They map to an unprivileged host id: never to host root.
func WithUser(uid, gid uint32) Option {
	return func(c *config) error {
		if c.uidSet {
			return &ConfigError{Input: "WithUser", Err: errors.New("given twice")}
		}
		c.uidSet = true
		c.root.UID, c.root.GID = uid, gid
		return nil
	}
}

// WithEnv adds "KEY=value" variables to the program's environment, after
// Cmd.Env.
func WithEnv(vars ...string) Option {
	return func(c *config) error {
		if err := checkEnv("WithEnv", vars); err != nil {
			return err
		}
		c.env = append(c.env, vars...)
		return nil
	}
}
