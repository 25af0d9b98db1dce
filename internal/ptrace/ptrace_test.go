//go:build linux && (amd64 || arm64)

package ptrace

import (
	"os"
	"testing"
)

func TestProcStatus(t *testing.T) {
	if got := ProcStatus(os.Getpid(), "Tgid"); got != os.Getpid() {
		t.Errorf("Tgid %d, want %d", got, os.Getpid())
	}
	if got := ProcStatus(os.Getpid(), "NoSuchField"); got != 0 {
		t.Errorf("a missing field: %d", got)
	}
}
