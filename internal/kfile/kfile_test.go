//go:build linux

package kfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	for _, tc := range []struct {
		name string
		data []byte
		want []byte
	}{
		{"empty", nil, nil},
		{"small", []byte("max 3\n"), []byte("max 3\n")},
		{"one buffer", big[:512], big[:512]},
		{"grows", big[:5000], big[:5000]},
		{"capped", big, big[:max]},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, tc.data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Read(p)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: Read = %d bytes, %v; want %d bytes", tc.name, len(got), err, len(tc.want))
		}
	}
	// A kernel file, whose size stat does not tell.
	if b, err := Read("/proc/self/status"); err != nil || !bytes.Contains(b, []byte("\nPid:\t")) {
		t.Errorf("Read(/proc/self/status) = %q, %v", b, err)
	}
	if _, err := Read(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want ErrNotExist", err)
	}
	// A symlink is not followed.
	if err := os.Symlink(filepath.Join(dir, "small"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(filepath.Join(dir, "link")); err == nil {
		t.Errorf("Read followed a symlink: %q", b)
	}
}

// ReadFD reads from the start each time, whatever the offset: a kernel
// file kept open shows its value of the moment.
func TestReadFD(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v")
	if err := os.WriteFile(p, []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, want := range []string{"1\n", "22\n"} {
		if _, err := f.WriteAt([]byte(want), 0); err != nil {
			t.Fatal(err)
		}
		if b, err := ReadFD(int(f.Fd())); err != nil || string(b) != want {
			t.Errorf("ReadFD = %q, %v; want %q", b, err, want)
		}
	}
}
