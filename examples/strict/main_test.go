package main

import (
	"io"
	"os"
	"testing"
)

func TestSum(t *testing.T) {
	in, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	in.WriteString("1 2 3\n40 -4\n")
	in.Seek(0, io.SeekStart)
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	stdin, stdout := os.Stdin, os.Stdout
	os.Stdin, os.Stdout = in, out
	err = run("")
	os.Stdin, os.Stdout = stdin, stdout
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out.Name())
	if string(b) != "42\n" {
		t.Errorf("sum: %q, want 42", b)
	}
}
