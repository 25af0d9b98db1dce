package sandbox_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"syscall"
	"time"

	"github.com/gosandbox/sandbox"
)

// Run a shell command with the secure default: every namespace, a fresh
// read-only root and Docker's seccomp profile.
func ExampleRun() {
	var out bytes.Buffer
	cmd := sandbox.Command("/bin/sh", "-c", "echo $(id -u)@$(hostname)")
	cmd.Stdout = &out
	res, err := sandbox.Run(cmd)
	if err != nil {
		log.Fatal(err) // the sandbox could not be built, or sh not started
	}
	fmt.Print(out.String())
	fmt.Println(res.Status, res.ExitCode, res.SeccompMode)
	// Output:
	// 65534@sandbox
	// exited 0 docker-default
}

// A Docker-format profile: the seed's, which denies mount and chown(2).
func ExampleWithProfile() {
	profile := []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
		{"name":"mount","action":"SCMP_ACT_ERRNO"},{"name":"chown","action":"SCMP_ACT_ERRNO"}]}`)
	var out bytes.Buffer
	cmd := sandbox.Command("/usr/bin/python3", "-c", `
import os
os.mkdir("/tmp/t")
try:
    os.chown("/tmp/t", 65534, 65534)
except PermissionError as e:
    print("chown:", e.strerror)`)
	cmd.Stdout = &out
	if _, err := sandbox.Run(cmd, sandbox.WithProfile(profile)); err != nil {
		log.Fatal(err)
	}
	fmt.Print(out.String())
	// Output: chown: Operation not permitted
}

// Docker's default with a kill default: a denied call ends the program
// with a verdict.
func ExampleWithDockerDefaultKill() {
	res, err := sandbox.Run(sandbox.Command("unshare", "--user", "true"), sandbox.WithDockerDefaultKill())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, res.Signal)
	// Output: seccomp_killed bad system call
}

// A grader's run: the submission directory bound read-write as the working
// directory, the host's network cut, the program's output captured.
func ExampleWithWorkDir() {
	dir, err := os.MkdirTemp("", "submission")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	cmd := sandbox.Command("/bin/sh", "-c", "echo 42 > answer && cat answer")
	var out bytes.Buffer
	cmd.Stdout = &out
	res, err := sandbox.Run(cmd, sandbox.WithWorkDir(dir, "/work"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(res.Status, " ", out.String())
	// Output: exited 42
}

// Errors say why the program did not start.
func ExampleRun_notFound() {
	_, err := sandbox.Run(sandbox.Command("no-such-program"))
	fmt.Println(errors.Is(err, sandbox.ErrNotFound))
	// Output: true
}

// A job runner starts a program, waits for it to be ready, signals it, and
// then waits for its Result.
func ExampleStart() {
	r, w := io.Pipe()
	cmd := sandbox.Command("/bin/sh", "-c", "trap 'exit 3' TERM; echo ready; while :; do sleep 0.01; done")
	cmd.Stdout = w
	p, err := sandbox.Start(context.Background(), cmd, sandbox.WithTimeout(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	line, _ := bufio.NewReader(r).ReadString('\n')
	fmt.Print(line)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		log.Fatal(err)
	}
	go io.Copy(io.Discard, r) // the rest, if any
	res, err := p.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, res.ExitCode)
	// Output:
	// ready
	// exited 3
}

// A grader's loop: one Pool for one configuration, a prepared sandbox for
// each submission's run, each used once.
func ExampleNewPool() {
	pool, err := sandbox.NewPool(2, sandbox.WithMemory(64<<20), sandbox.WithTimeout(10*time.Second), sandbox.WithBestEffort())
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	for _, answer := range []string{"42", "41"} {
		var out bytes.Buffer
		cmd := sandbox.Command("/bin/sh", "-c", "echo "+answer+" > /tmp/answer; cat /tmp/answer; ls /tmp | wc -l")
		cmd.Stdout = &out
		res, err := pool.Run(cmd)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(res.Status, " ", out.String())
	}
	// Output:
	// exited 42
	// 1
	// exited 41
	// 1
}
