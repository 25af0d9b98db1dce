//go:build linux && cgo

package sandbox

// For the tests of package sandbox_test.

// PooledCgroups returns the directories of the cgroups this process keeps
// ready for reuse, all empty.
func PooledCgroups() []string {
	h, err := hierarchy()
	if err != nil {
		return nil
	}
	return h.FreeDirs()
}

// PoolReady returns how many prepared children pl has ready.
func PoolReady(pl *Pool) int { return len(pl.ready) }
