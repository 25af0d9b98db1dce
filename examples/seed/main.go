// Command seed runs the seed scenario through the Go SDK: a program makes a
// directory and chowns a file under three seccomp policies.
package main

import (
	"bytes"
	"fmt"
	"log"

	"github.com/gosandbox/sandbox"
)

// The seed's profile: mount and chown(2) denied, everything else allowed.
const seedProfile = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"name":"mount","action":"SCMP_ACT_ERRNO"},
  {"name":"chown","action":"SCMP_ACT_ERRNO"}]}`

// chown(2) itself, through Python's os.chown (glibc calls the chown syscall
// on amd64); coreutils' chown(1) calls fchownat instead.
const script = `mkdir /tmp/t && echo "mkdir: ok"
python3 -c '
import os
try:
    os.chown("/tmp/t", 65534, 65534)
    print("chown(2): ok")
except OSError as e:
    print("chown(2):", e.strerror)
'`

func main() {
	for _, c := range []struct {
		name string
		opt  sandbox.Option
	}{
		{"seed profile", sandbox.WithProfile([]byte(seedProfile))},
		{"unconfined", sandbox.WithoutSeccomp()},
	} {
		var out bytes.Buffer
		cmd := sandbox.Command("/bin/sh", "-c", script)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		cmd.Stdout, cmd.Stderr = &out, &out
		res, err := sandbox.Run(cmd, c.opt)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (%s, %s %d):\n%s\n", c.name, res.SeccompMode, res.Status, res.ExitCode, out.String())
	}
}
