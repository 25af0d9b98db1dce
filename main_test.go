package sandbox_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/gosandbox/sandbox/internal/testenv"
)

func isAMD64() bool { return runtime.GOARCH == "amd64" }

// TestMain removes the helper binaries that the tests build. Started by
// BenchmarkFirstRun, it times a fresh process's first Run instead.
func TestMain(m *testing.M) {
	if os.Getenv(firstRunEnv) != "" {
		os.Exit(firstRun())
	}
	testenv.Main(m)
}
