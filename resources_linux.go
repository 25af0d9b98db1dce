//go:build linux && cgo

package sandbox

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosandbox/sandbox/internal/cgroup"
	"golang.org/x/sys/unix"
)

// releaseCgroups removes the cgroups this process keeps ready for reuse;
// groups of a run still going are left, and removed by the next process
// that finds their supervisor gone.
func releaseCgroups() error {
	h, err := hierarchy()
	if err != nil {
		return nil // none were made
	}
	if err := h.Close(); err != nil {
		return fmt.Errorf("sandbox: removing pooled cgroups: %w", err)
	}
	return nil
}

// hierarchy is this process's cgroup hierarchy, found and prepared once.
var hierarchy = sync.OnceValues(func() (*cgroup.Hierarchy, error) {
	h, err := cgroup.Detect("/proc/self/mountinfo", "/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	if err := h.Prepare(); err != nil {
		return nil, err
	}
	return h, nil
})

// resources acquires the cgroup the limits need, or picks the rlimits
// that stand in for it under WithBestEffort, and records in res what
// enforces each limit.
func (c *config) resources(res *Result) (*cgroup.Group, []rlimit, error) {
	l := &c.lim
	var rl []rlimit
	enforce := func(limit string, mechanism Mechanism) {
		res.Enforced = append(res.Enforced, Enforcement{Limit: limit, Mechanism: mechanism})
	}
	if l.timeout > 0 {
		enforce("timeout", MechanismSupervisor)
	}
	if l.output > 0 {
		enforce("output", MechanismSupervisor)
	}
	byRlimit := func(limit string, resource int, v int64) {
		if v > 0 {
			rl = append(rl, rlimit{resource, uint64(v), uint64(v)})
			enforce(limit, MechanismRlimit)
		}
	}
	// No core dumps unless the program raises the limit itself (up to
	// the caller's hard limit): a core is the program's memory, written
	// where core_pattern says.
	var core unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_CORE, &core) == nil {
		rl = append(rl, rlimit{unix.RLIMIT_CORE, 0, core.Max})
	}
	byRlimit("file-size", unix.RLIMIT_FSIZE, l.fileSize)
	byRlimit("open-files", unix.RLIMIT_NOFILE, l.openFiles)
	if l.cpus != "" {
		// Bad input, whatever enforces it: never excused by best effort.
		if err := checkCPUs(l.cpus); err != nil {
			return nil, nil, &ConfigError{Input: "WithCPUs(" + l.cpus + ")", Err: err}
		}
	}
	h, err := hierarchy()
	var grp *cgroup.Group
	if err == nil {
		grp, err = h.Acquire(cgroup.Limits{Memory: l.memory, Pids: l.pids, CPUs: l.cpus})
	}
	if err != nil && !l.needCgroup() {
		// Only for the accounting (CPU time, peak memory): go on
		// without.
		return nil, rl, nil
	}
	if err != nil {
		if !l.bestEffort {
			return nil, nil, &UnsupportedError{What: "limits", Err: err}
		}
		// The stand-ins, per process rather than per sandbox.
		byRlimit("memory", unix.RLIMIT_AS, l.memory)
		byRlimit("pids", unix.RLIMIT_NPROC, l.pids)
		byRlimit("cpu-time", unix.RLIMIT_CPU, int64((l.cpuTime+time.Second-1)/time.Second))
		if l.cpus != "" {
			enforce("cpus", MechanismNone)
		}
		return nil, rl, nil
	}
	mech := MechanismCgroupV1
	if grp.Version() == cgroup.V2 {
		mech = MechanismCgroupV2
	}
	for _, on := range []struct {
		set  bool
		name string
	}{{l.memory > 0, "memory"}, {l.pids > 0, "pids"}, {l.cpuTime > 0, "cpu-time"}, {l.cpus != "", "cpus"}} {
		if on.set {
			enforce(on.name, mech)
		}
	}
	return grp, rl, nil
}

// checkCPUs says which CPUs of list (checked well-formed) the caller may
// not use itself: the sandbox's cpuset is a part of the caller's.
func checkCPUs(list string) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return err
	}
	var outside []string
	for _, r := range strings.Split(list, ",") {
		lo, hi, _ := strings.Cut(r, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if hi != "" {
			b, _ = strconv.Atoi(hi)
		}
		for cpu := a; cpu <= b && len(outside) < 8; cpu++ {
			if cpu >= len(allowed)*64 || !allowed.IsSet(cpu) {
				outside = append(outside, strconv.Itoa(cpu))
			}
		}
	}
	if len(outside) > 0 {
		return fmt.Errorf("CPUs %s are not the caller's to use", strings.Join(outside, ","))
	}
	return nil
}

// rlimit is a resource limit set in the child.
type rlimit struct {
	resource int
	cur, max uint64
}
