//go:build linux

package main

// The CLI's flag types and the parsers of their values.

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gosandbox/sandbox"
)

// onceFlag is a string flag that may be given once: two policies are a
// usage error, as the SDK refuses them, not a silent last-one-wins.
type onceFlag struct {
	value string
	set   bool
}

// String implements flag.Value.
func (o *onceFlag) String() string { return o.value }

// Set implements flag.Value.
func (o *onceFlag) Set(v string) error {
	if o.set {
		return fmt.Errorf("given twice (%q, then %q)", o.value, v)
	}
	o.value, o.set = v, true
	return nil
}

// limitLine says, in one line, which limit ended the program, or "".
func (f *runFlags) limitLine(res *sandbox.Result) string {
	switch res.Status {
	case sandbox.Timeout:
		return fmt.Sprintf("sandbox: timeout after %v: killed", f.timeout)
	case sandbox.CPUTimeExceeded:
		return fmt.Sprintf("sandbox: CPU time limit of %v exceeded: killed", f.cpuTime)
	case sandbox.MemoryExceeded:
		return fmt.Sprintf("sandbox: memory limit of %d bytes exceeded: killed", f.memory)
	case sandbox.OutputExceeded:
		return fmt.Sprintf("sandbox: output limit of %d bytes exceeded: killed", f.outputLimit)
	}
	return ""
}

// version is the module's version, from the build info.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(unknown)"
}

// writeEarlyResult writes --result for a run that ended before it started
// (a flag error), when --result was parsed.
func (f *runFlags) writeEarlyResult(err error, stderr io.Writer) {
	if f.result == "" {
		return
	}
	var file *outFile
	if f.result != "-" {
		var oerr error
		if file, oerr = openOut(f.result); oerr != nil {
			fmt.Fprintf(stderr, "sandbox: --result: %v\n", oerr)
			return
		}
		defer file.close()
	}
	if werr := writeResult(file, nil, err, exitSetup, stderr); werr != nil {
		fmt.Fprintf(stderr, "sandbox: --result: %v\n", werr)
	}
}

// sizeFlag is a size with a binary suffix.
type sizeFlag int64

// String implements flag.Value.
func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

// Set implements flag.Value.
func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	*s = sizeFlag(n)
	return err
}

// defaultPids is --pids when it is not given.
const defaultPids = 256

type listFlag []string

// String implements flag.Value.
func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseBind parses SRC[:DST[:rw]]; SRC alone mounts at the same path.
func parseBind(s string) (src, dst string, rw bool, err error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) == 1:
		src, dst = parts[0], parts[0]
	case len(parts) == 2:
		src, dst = parts[0], parts[1]
	case len(parts) == 3 && parts[2] == "rw":
		src, dst, rw = parts[0], parts[1], true
	case len(parts) == 3 && parts[2] == "ro":
		src, dst = parts[0], parts[1]
	default:
		return "", "", false, fmt.Errorf("sandbox: --bind %q: want SRC[:DST[:rw]]", s)
	}
	if src == "" || dst == "" {
		return "", "", false, fmt.Errorf("sandbox: --bind %q: empty path", s)
	}
	if abs, err := filepath.Abs(src); err == nil {
		src = abs
	}
	return src, dst, rw, nil
}

// parseTmpfs parses DST[:SIZE].
func parseTmpfs(s string) (string, int64, error) {
	dst, size, ok := strings.Cut(s, ":")
	if !ok {
		return dst, sandbox.DefaultTmpSize, nil
	}
	n, err := parseSize(size)
	if err != nil {
		return "", 0, fmt.Errorf("sandbox: --tmpfs %q: %w", s, err)
	}
	return dst, n, nil
}

// parseSize parses bytes with an optional binary suffix: K, M or G
// (1M = 1048576).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K") || strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M") || strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G") || strings.HasSuffix(s, "g"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size (want bytes with an optional K, M or G)")
	}
	if n > (1<<62)/mult {
		return 0, errors.New("size too large")
	}
	return n * mult, nil
}
