package sandbox

// For the tests of package sandbox_test.

// PooledCgroups returns the directories of the cgroups this process keeps
// ready for reuse, all empty.
func PooledCgroups() []string { return pooledCgroups() }

// PoolWarmRuns returns how many runs of pl took a prepared child.
func PoolWarmRuns(pl *Pool) int64 { return pl.warmRuns() }

// PoolReady returns how many prepared children pl has ready.
func PoolReady(pl *Pool) int { return pl.readyNow() }
