package main

import (
	"os"
	"strings"
	"testing"
)

func TestSeed(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	main()
	os.Stdout = stdout
	w.Close()
	b := make([]byte, 4096)
	n, _ := r.Read(b)
	out := string(b[:n])
	for _, want := range []string{
		"seed profile (custom, exited 0):\nmkdir: ok\nchown(2): Operation not permitted\n",
		"unconfined (unconfined, exited 0):\nmkdir: ok\nchown(2): ok\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output:\n%s\nlacks:\n%s", out, want)
		}
	}
}
