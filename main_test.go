package sandbox_test

import (
	"runtime"
	"testing"

	"github.com/gosandbox/sandbox/internal/testenv"
)

func isAMD64() bool { return runtime.GOARCH == "amd64" }

// TestMain removes the helper binaries that the tests build.
func TestMain(m *testing.M) { testenv.Main(m) }
