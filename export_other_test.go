//go:build !linux || !cgo

package sandbox

// For the tests of package sandbox_test, which without cgo only build.

func PooledCgroups() []string     { return nil }
func PoolWarmRuns(pl *Pool) int64 { return 0 }
func PoolReady(pl *Pool) int      { return 0 }
