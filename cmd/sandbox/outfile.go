//go:build linux

package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// outFile is a file the CLI writes after the run (--result, learn -o),
// whose directory was opened before it. The sandboxed program may be able
// to change that directory (a read-write bind over it), and the CLI often
// runs as root: so nothing there is followed or truncated. The file is
// written as a new temporary file (O_EXCL|O_NOFOLLOW) and renamed over the
// name: a symlink the program left at the name is replaced, never written
// through.
type outFile struct {
	dir  int // O_PATH, opened before the run
	name string
	path string
}

// openOut opens the directory of path, before the run.
func openOut(path string) (*outFile, error) {
	dir, name := filepath.Split(path)
	if name == "" || name == "." || name == ".." {
		return nil, fmt.Errorf("%q names no file", path)
	}
	if dir == "" {
		dir = "."
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open directory %q: %w", dir, err)
	}
	return &outFile{dir: fd, name: name, path: path}, nil
}

// write replaces the file with data, mode 0644.
func (o *outFile) write(data []byte) error {
	var r [8]byte
	_, _ = rand.Read(r[:])
	tmp := "." + o.name + "." + hex.EncodeToString(r[:])
	fd, err := unix.Openat(o.dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("create %q: %w", o.path, err)
	}
	for b := data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			unix.Close(fd)
			_ = unix.Unlinkat(o.dir, tmp, 0)
			return fmt.Errorf("write %q: %w", o.path, err)
		}
		b = b[n:]
	}
	if err := unix.Close(fd); err != nil {
		_ = unix.Unlinkat(o.dir, tmp, 0)
		return fmt.Errorf("write %q: %w", o.path, err)
	}
	if err := unix.Renameat(o.dir, tmp, o.dir, o.name); err != nil {
		_ = unix.Unlinkat(o.dir, tmp, 0)
		return fmt.Errorf("rename over %q: %w", o.path, err)
	}
	return nil
}

func (o *outFile) close() { unix.Close(o.dir) }
