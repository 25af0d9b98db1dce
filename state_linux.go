//go:build linux && cgo

package sandbox

import "github.com/gosandbox/sandbox/internal/launch"

// The package's process-wide state, all of it: what a process that runs
// sandboxes keeps between runs, made on first use, and released together
// by Shutdown.
//
//   - the zygote (internal/launch): a small process that forks every
//     launch, and the idle helper processes that an idmapping's user
//     namespace is made with (idmapUsernses; only the namespaces are kept);
//   - the cgroup hierarchy and its pool of empty groups, ready for the
//     next run (hierarchy, resources_linux.go);
//   - the audit reader: a netlink socket and its goroutine, as root
//     (auditState, violations_linux.go);
//   - the compiled custom profiles, by content (profileCache, filter.go);
//   - the built-in programs (internal/builtin, embedded) and Docker's
//     policies made from them (dockerDefaultPolicy): memory only, kept;
//   - the thread that is the parent of the zygote and of every sandbox,
//     whose end would fire their parent-death signals: kept for good.
//
// A Pool's prepared sandboxes are the caller's, ended by Pool.Close.

// Shutdown releases the process-wide state: it stops the zygote and the
// audit reader, closes the idmappings' namespaces, empties the cache of
// compiled profiles, and removes the cgroups kept ready for reuse (made
// for runs with memory, pids, CPU-time or CPU limits, or for accounting).
// Call it when no run is going and every Pool is closed, at the end of a
// process or of a test: groups of a run still going are left, and removed
// by the next process that finds their supervisor gone. Runs after it
// make what they need again.
func Shutdown() error {
	launch.StopZygote()
	stopAudit()
	releaseIdmaps()
	releaseProfiles()
	return releaseCgroups()
}
