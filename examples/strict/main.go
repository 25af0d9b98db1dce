// Command strict rents out a CPU safely: it runs a static guest in
// SECCOMP_MODE_STRICT, where it can only read, write and exit, and feeds it
// the job on stdin. The guest here (guest/sum.c) sums the integers it reads.
//
//	go run ./examples/strict <<< "1 2 3"            # builds guest/sum.c with gcc
//	go run ./examples/strict -guest ./sum < numbers.txt
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/gosandbox/sandbox"
)

func main() {
	guest := flag.String("guest", "", "a static guest binary (default: build guest/sum.c with gcc)")
	flag.Parse()
	if err := run(*guest); err != nil {
		log.Fatal(err)
	}
}

func run(guest string) error {
	if guest == "" {
		dir, err := os.MkdirTemp("", "strict-guest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		guest = filepath.Join(dir, "sum")
		_, self, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(self), "guest", "sum.c")
		// No libc: the guest's first instruction is its own _start.
		if out, err := exec.Command("gcc", "-static", "-nostdlib", "-O2", "-o", guest, src).CombinedOutput(); err != nil {
			return fmt.Errorf("gcc: %w\n%s", err, out)
		}
	}
	guest, err := filepath.Abs(guest)
	if err != nil {
		return err
	}
	cmd := sandbox.Command("/guest/" + filepath.Base(guest))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	res, err := sandbox.Run(cmd, sandbox.WithStrict(), sandbox.WithBind(filepath.Dir(guest), "/guest"))
	if err != nil {
		return err // not a static guest, or the sandbox could not be built
	}
	if res.Status != sandbox.Exited || res.ExitCode != 0 {
		return fmt.Errorf("guest: %s (signal %v), violations %+v", res.Status, res.Signal, res.Violations)
	}
	return nil
}
