//go:build linux && cgo

// Command gen compiles the built-in profiles for each kernel-version
// variant on the architecture it runs on, into ../programs (go generate
// in internal/builtin).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/gosandbox/sandbox/internal/builtin"
	"github.com/gosandbox/sandbox/internal/filter"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := filepath.Join("programs", runtime.GOARCH)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range builtin.Names {
		for _, k := range builtin.Kernels() {
			p, err := builtin.Resolve(name, k)
			if err != nil {
				return fmt.Errorf("%s for %v: %w", name, k, err)
			}
			f, err := filter.Compile(p)
			if err != nil {
				return fmt.Errorf("%s for %v: %w", name, k, err)
			}
			// FromProgram makes the rest of the Filter from the
			// program alone: nothing else may differ.
			if len(f.Skipped) > 0 || len(p.Flags) > 0 || f.ListenerPath != "" {
				return fmt.Errorf("%s for %v: skipped rules %q, flags %q or a listener: not a program alone", name, k, f.Skipped, p.Flags)
			}
			if err := os.WriteFile(builtin.Path(runtime.GOARCH, name, k), f.BPF, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
