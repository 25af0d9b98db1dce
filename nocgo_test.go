//go:build linux && !cgo

package sandbox_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gosandbox/sandbox"
)

// Without cgo every entry point fails closed, matching ErrUnsupported.
func TestNoCgoFailsClosed(t *testing.T) {
	cmd := sandbox.Command("/bin/true")
	_, err1 := sandbox.Run(cmd)
	_, err2 := sandbox.Start(context.Background(), cmd)
	_, _, err3 := sandbox.Learn(cmd)
	_, err4 := sandbox.NewPool(1)
	var pl sandbox.Pool
	_, err5 := pl.Run(cmd)
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if !errors.Is(err, sandbox.ErrUnsupported) {
			t.Errorf("entry point %d: %v, want ErrUnsupported", i, err)
		}
	}
}
