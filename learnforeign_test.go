package sandbox_test

import (
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/gosandbox/sandbox"
)

// A child of the tracer's thread that nobody waits for yet does not stall
// learning.
func TestLearnPastForeignChild(t *testing.T) {
	runtime.LockOSThread() // the foreign child and the learning run share this thread
	defer runtime.UnlockOSThread()
	foreign := exec.Command("/bin/true")
	if err := foreign.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // it exits, and stays unreaped while we learn
	_, res, err := sandbox.Learn(sandbox.Command("/bin/sh", "-c", "echo a | tr a b"))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Learn: %v %+v", err, res)
	}
	if err := foreign.Wait(); err != nil {
		t.Errorf("the foreign child: %v", err)
	}
}
