//go:build !linux

// Command sandbox runs a program in a sandbox from the command line. It
// needs Linux: elsewhere it says so and exits 125.
package main

import (
	"fmt"
	"os"

	"github.com/gosandbox/sandbox"
)

func main() {
	fmt.Fprintf(os.Stderr, "sandbox: %v: Linux only\n", sandbox.ErrUnsupported)
	os.Exit(125)
}
