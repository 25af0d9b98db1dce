//go:build linux

// Package kfile reads the small files of the kernel's pseudo file systems
// (procfs, cgroupfs) that a run reads on its critical path.
//
// os.ReadFile takes eight system calls for such a file: it tries (and
// fails) to add it to Go's netpoller, then takes it out again, and stats
// it. Read takes three: open, read, close. Each call is dearer than it
// looks on a virtual machine, and a run reads about eight such files.
package kfile

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// max is the most Read returns: every file it is used for is far smaller.
const max = 64 << 10

// Read returns the contents of path, at most 64 KiB of it. The last
// component is not followed if it is a symlink: these files are never
// links.
func Read(path string) ([]byte, error) {
	fd, err := open(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b, err := ReadFD(fd)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return b, nil
}

// ReadFD returns the contents of the open file fd from its start (pread:
// its offset is left alone), at most 64 KiB of it. A file kept open and
// read again this way costs one call a read.
func ReadFD(fd int) ([]byte, error) {
	b := make([]byte, 0, 512)
	for len(b) < max {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Pread(fd, b[len(b):min(cap(b), max)], int64(len(b)))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
	}
	return b, nil
}

func open(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
