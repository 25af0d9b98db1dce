//go:build linux && cgo

package launch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosandbox/sandbox/internal/testenv"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func userSpec(p *Program) *Spec {
	return &Spec{
		CloneFlags:    unix.CLONE_NEWUSER,
		UIDMap:        "0 " + strconv.Itoa(os.Geteuid()) + " 1\n",
		GIDMap:        "0 " + strconv.Itoa(os.Getegid()) + " 1\n",
		DenySetgroups: true,
		Program:       p,
	}
}

func TestStartAndWait(t *testing.T) {
	p := &Program{}
	p.FDs(Desc{Stage: "fds"}, []int32{0, 1, 2})
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/no/such", "/bin/sh"}, []string{"sh", "-c", "exit 3"}, nil)
	proc, err := Start(context.Background(), userSpec(p))
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := proc.Wait()
	proc.Release()
	if err != nil || !ws.Exited() || ws.ExitStatus() != 3 {
		t.Fatalf("wait: %v %v", ws, err)
	}
}

// A failed step comes back with its Desc and errno; optional steps skip a
// missing target.
func TestStepError(t *testing.T) {
	p := &Program{}
	p.Mount(Desc{Stage: "opt"}, "", "/no/such/target", "", unix.MS_REMOUNT, "", true)
	p.Chdir(Desc{Stage: "workdir", Op: "chdir", Path: "/no/such/dir"}, "/no/such/dir")
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/true"}, []string{"true"}, nil)
	_, err := Start(context.Background(), userSpec(p))
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("Start: %v, want a StepError", err)
	}
	if se.Stage != "workdir" || se.Path != "/no/such/dir" || !errors.Is(err, unix.ENOENT) {
		t.Errorf("StepError %+v (%v)", se.Desc, se.Err)
	}
}

func TestExecNotFound(t *testing.T) {
	p := &Program{}
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/no/such", "/also/not"}, []string{"x"}, nil)
	_, err := Start(context.Background(), userSpec(p))
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Start: %v, want ENOENT", err)
	}
}

// The encoded block points at its own data: every relocation lands inside
// it, the config's counts are the program's, and the fds of an FDs step
// are written as their indices.
func TestEncode(t *testing.T) {
	p := &Program{}
	p.OpenTree(Desc{}, "/usr", true, 2, 1, 0)
	p.WriteFile(Desc{}, "/etc/x", []byte("data"), 0o644)
	p.FDs(Desc{}, []int32{7, 9})
	p.Exec(Desc{}, []string{"/bin/true"}, []string{"true", "a"}, []string{"A=1"})
	buf, relocs := p.encode(func(fd int32) int32 { return fd * 10 })
	if got := int(binary.NativeEndian.Uint32(buf[offNSteps:])); got != 4 {
		t.Errorf("nsteps %d", got)
	}
	if got := int(binary.NativeEndian.Uint32(buf[offNSlots:])); got != 3 {
		t.Errorf("nslots %d, want 3 (slot 2 used)", got)
	}
	for _, at := range relocs {
		if off := binary.NativeEndian.Uint64(buf[at:]); off == 0 || off >= uint64(len(buf)) {
			t.Errorf("relocation at %d points to %d, outside the block of %d", at, off, len(buf))
		}
	}
	steps := int(binary.NativeEndian.Uint64(buf[offSteps:]))
	src := int(binary.NativeEndian.Uint64(buf[steps+2*stepSize+offArgs:]))
	if a, b := int32(binary.NativeEndian.Uint32(buf[src:])), int32(binary.NativeEndian.Uint32(buf[src+4:])); a != 70 || b != 90 {
		t.Errorf("FDs sources %d %d, want 70 90", a, b)
	}
}

// A step is built with at most the arguments struct sb_step holds.
func TestStepCapacity(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a step with too many arguments did not panic")
		}
	}()
	(&Program{}).add(Desc{}, codeExec, 0, make([]arg, stepArgs+1)...)
}

// clone3 with CLONE_INTO_CGROUP makes the child in a cgroup v2 directory
// (this machine's unified hierarchy has no controllers, which does not
// matter for membership).
func TestCloneIntoCgroup(t *testing.T) {
	testenv.RequireRoot(t)
	root := cgroup2Mount(t)
	dir, err := os.MkdirTemp(root, "launch-test-")
	if err != nil {
		testenv.Missing(t, "cannot make a cgroup v2 directory: %v", err)
	}
	defer os.Remove(dir)
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &Program{}
	p.FDs(Desc{Stage: "fds"}, []int32{0, 1, 2})
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/sleep"}, []string{"sleep", "10"}, nil)
	spec := userSpec(p)
	spec.Cgroup = f
	spec.Prepare = func(int) error { t.Error("Prepare called, though clone3 put the child in its cgroup"); return nil }
	proc, err := Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(proc.Pid) + "/cgroup")
	proc.Kill()
	proc.Wait()
	proc.Release()
	if want := "0::/" + filepath.Base(dir) + "\n"; !strings.Contains(string(b), want) {
		t.Errorf("/proc/PID/cgroup:\n%s\nlacks %q", b, want)
	}
}

// cgroup2Mount returns where cgroup v2 is mounted.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 8 && strings.Contains(line, " - cgroup2 ") {
			return f[4]
		}
	}
	testenv.Missing(t, "no cgroup2 mount")
	return ""
}

// Setup runs under the deadline: a launch whose setup outlasts ctx (here
// the supervisor's own part, a Prepare that takes too long, while the
// child waits to be released) is killed when ctx ends, and Start returns
// ctx's cause.
func TestStartDeadline(t *testing.T) {
	const deadline = 200 * time.Millisecond
	p := &Program{}
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/true"}, []string{"true"}, nil)
	spec := userSpec(p)
	spec.Prepare = func(int) error { time.Sleep(2 * deadline); return nil }
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err := Start(ctx, spec)
	took := time.Since(start)
	var se *StepError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start: %v, want a StepError wrapping the deadline", err)
	}
	if took > 2*deadline+time.Second {
		t.Errorf("Start returned after %v for a deadline of %v", took, deadline)
	}
}

// A mount point that is a FIFO (or any other non-regular file, or a
// link) is refused, never opened: an open of a FIFO would block.
func TestCreateRefusesNonFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(fifo), 0o755)
	p := &Program{}
	p.Create(Desc{Stage: "root", Op: "create", Path: fifo}, fifo, 0o600)
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/true"}, []string{"true"}, nil)
	if _, err := Start(context.Background(), userSpec(p)); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("Start: %v, want EEXIST", err)
	}
}

// assemble is a BPF program as the Seccomp step takes it: struct
// sock_filter bytes.
func assemble(t *testing.T, ins ...bpf.Instruction) []byte {
	t.Helper()
	prog, err := bpf.Assemble(ins)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, in := range prog {
		b = binary.NativeEndian.AppendUint16(b, in.Op)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b
}

// A launcher that fails under a filter denying write, exit_group and exit
// (it can neither report nor exit) still ends, by a fault, which no filter
// can refuse: it does not spin for ever with Start waiting on it.
func TestDieUnderHostileFilter(t *testing.T) {
	b := assemble(t,
		bpf.LoadAbsolute{Off: 0, Size: 4}, // the call's number
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_EXIT_GROUP, SkipTrue: 3},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_EXIT, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_WRITE, SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
	)
	p := &Program{}
	p.FDs(Desc{Stage: "fds"}, []int32{0, 1, 2})
	p.NoNewPrivs(Desc{Stage: "credentials"})
	p.Seccomp(Desc{Stage: "seccomp"}, b, false, 0)
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/no/such"}, []string{"x"}, nil)
	type started struct {
		proc *Process
		err  error
	}
	done := make(chan started, 1)
	go func() {
		proc, err := Start(context.Background(), userSpec(p))
		done <- started{proc, err}
	}()
	select {
	case s := <-done:
		// No report could be written: the pipe's EOF is all Start
		// sees, and the wait status tells the fault.
		if s.err != nil {
			return
		}
		ws, _, err := s.proc.Wait()
		s.proc.Release()
		if err != nil || !ws.Signaled() || ws.Signal() != unix.SIGILL {
			t.Errorf("wait: %v %v, want a SIGILL death", ws, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return: the launcher spins on a denied exit")
	}
}

// If the supervisor dies while a launch is under way, the program never
// runs: the child waits for its release, sees the supervisor's end of the
// pipe close, and exits (and had it been released, its parent-death
// signal, or the closed report socket its pdeathsig step checks, would end
// it). A helper process is the supervisor here; it is killed in Prepare,
// before it releases the child.
func TestSupervisorDeathDuringSetup(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	os.Chmod(filepath.Dir(marker), 0o777)
	helper := exec.Command(os.Args[0], "-test.run=^TestSupervisorDeathHelper$")
	helper.Env = append(os.Environ(), "GOSANDBOX_DEATH_MARKER="+marker)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscanf(out, "child %d\n", &pid); err != nil {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper: %v", err)
	}
	helper.Process.Kill() // mid-launch
	helper.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			break // gone, or dead and waiting for its new parent
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child %d lives on without its supervisor", pid)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the program ran without its supervisor")
	}
}

// TestSupervisorDeathHelper is TestSupervisorDeathDuringSetup's supervisor.
func TestSupervisorDeathHelper(t *testing.T) {
	marker := os.Getenv("GOSANDBOX_DEATH_MARKER")
	if marker == "" {
		t.Skip("a helper of TestSupervisorDeathDuringSetup")
	}
	p := &Program{}
	p.FDs(Desc{Stage: "fds"}, []int32{0, 1, 2})
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/sh"}, []string{"sh", "-c", "echo > " + marker}, nil)
	spec := &Spec{Program: p}
	if os.Geteuid() != 0 {
		spec = userSpec(p)
	}
	spec.Prepare = func(pid int) error {
		fmt.Printf("child %d\n", pid)
		select {} // killed here
	}
	Start(context.Background(), spec)
}

// A zygote that died is replaced at the next launch: the request fails
// while it is sent, before any fork, so it is sent again to a new one.
func TestZygoteRestart(t *testing.T) {
	p := &Program{}
	p.FDs(Desc{Stage: "fds"}, []int32{0, 1, 2})
	p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/true"}, []string{"true"}, nil)
	startTrue := func() {
		t.Helper()
		proc, err := Start(context.Background(), userSpec(p))
		if err != nil {
			t.Fatal(err)
		}
		if ws, _, err := proc.Wait(); err != nil || ws.ExitStatus() != 0 {
			t.Fatalf("wait: %v %v", ws, err)
		}
		proc.Release()
	}
	startTrue()
	// The zygote: our child whose command line says so.
	killed := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if f := strings.Fields(string(stat)); len(f) > 3 && f[3] == strconv.Itoa(os.Getpid()) && strings.HasPrefix(string(cmdline), "gosandbox-zygote") {
			unix.Kill(pid, unix.SIGKILL)
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("found %d zygotes of this process", killed)
	}
	time.Sleep(50 * time.Millisecond) // gone, and its socket closed
	startTrue()
}

// The filter's flags reach seccomp(2): a bit the kernel does not know
// (and the launcher does not drop as optional) fails the step with EINVAL.
func TestSeccompFlagsReachKernel(t *testing.T) {
	b := assemble(t, bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW})
	for _, tt := range []struct {
		flags uint32
		want  error
	}{{1 << 2, nil}, {1 << 30, unix.EINVAL}} { // SPEC_ALLOW; unknown
		p := &Program{}
		p.FDs(Desc{Stage: "fds"}, []int32{0, 1, 2})
		p.NoNewPrivs(Desc{Stage: "credentials"})
		p.Seccomp(Desc{Stage: "seccomp"}, b, false, tt.flags)
		p.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/true"}, []string{"true"}, nil)
		proc, err := Start(context.Background(), userSpec(p))
		if tt.want == nil {
			if err != nil {
				t.Fatalf("flags %#x: %v", tt.flags, err)
			}
			proc.Wait()
			proc.Release()
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("flags %#x: %v, want %v", tt.flags, err, tt.want)
		}
	}
}

// A parked child runs its head (here a hostname in a fresh UTS namespace),
// waits, and runs the tail that Resume gives it, with the fds the tail
// names: the program's output comes on a pipe made after the park. A
// failing tail step comes back with its own Desc; a parked child whose
// supervisor closes its socket ends.
func TestParkResume(t *testing.T) {
	head := &Program{}
	head.Sethostname(Desc{Stage: "uts"}, "parked")
	head.Park(Desc{Stage: "park"})
	spec := userSpec(head)
	spec.CloneFlags |= unix.CLONE_NEWUTS
	proc, err := Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !proc.Parked() {
		t.Fatal("not parked")
	}
	parkedUnderSignals(t, proc)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tail := &Program{}
	tail.FDs(Desc{Stage: "fds"}, []int32{0, int32(w.Fd()), 2})
	tail.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/hostname"}, []string{"hostname"}, nil)
	err = proc.Resume(context.Background(), &Spec{Program: tail})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	ws, _, err := proc.Wait()
	proc.Release()
	if err != nil || !ws.Exited() || ws.ExitStatus() != 0 || string(out) != "parked\n" {
		t.Fatalf("wait: %v %v, output %q", ws, err, out)
	}

	// A failing tail step is named by its own Desc.
	proc, err = Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	tail = &Program{}
	tail.Chdir(Desc{Stage: "workdir", Path: "/no/such"}, "/no/such")
	tail.Exec(Desc{Stage: "exec", Op: "execve"}, []string{"/bin/true"}, []string{"true"}, nil)
	var se *StepError
	if err := proc.Resume(context.Background(), &Spec{Program: tail}); !errors.As(err, &se) || se.Stage != "workdir" || !errors.Is(err, unix.ENOENT) {
		t.Errorf("Resume: %v, want the chdir's ENOENT", err)
	}

	// Given up while parked: Abort ends and reaps it.
	proc, err = Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	pid := proc.Pid
	proc.Abort()
	if err := unix.Kill(pid, 0); err != unix.ESRCH {
		t.Errorf("the parked child %d is still there: %v", pid, err)
	}
}

// Split cuts a program after its Park step.
func TestSplit(t *testing.T) {
	p := &Program{}
	p.Setsid(Desc{Op: "a"})
	p.Park(Desc{Op: "park"})
	p.Chdir(Desc{Op: "b"}, "/")
	head, tail := p.Split()
	if len(head.steps) != 2 || head.descs[1].Op != "park" || len(tail.steps) != 1 || tail.descs[0].Op != "b" {
		t.Errorf("head %v, tail %v", head.descs, tail.descs)
	}
	if h, tl := tail.Split(); h != tail || tl != nil {
		t.Error("a program without Park splits")
	}
}

// parkedUnderSignals checks that a signal to the asking thread (Go's
// preemption sends SIGURG) never makes Parked say no of a parked child:
// a Pool would throw the child away.
func parkedUnderSignals(t *testing.T, proc *Process) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = unix.Tgkill(os.Getpid(), tid, unix.SIGURG)
			}
		}
	}()
	no := 0
	for range 20000 {
		if !proc.Parked() {
			no++
		}
	}
	close(stop)
	<-done
	if no > 0 {
		t.Errorf("Parked said no %d times in 20000, with signals coming", no)
	}
}

// A pidfd's pid, by the ioctl where the kernel has it and by the fdinfo,
// is the process's; a reaped one has none.
func TestPidOfPidfd(t *testing.T) {
	cmd := exec.Command("/bin/sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pfd)
	for name, f := range map[string]func(int) (int, error){"pidOfPidfd": pidOfPidfd, "pidFromFdinfo": pidFromFdinfo} {
		if pid, err := f(pfd); err != nil || pid != cmd.Process.Pid {
			t.Errorf("%s = %d, %v; want %d", name, pid, err, cmd.Process.Pid)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if pid, err := pidOfPidfd(pfd); err == nil {
		t.Errorf("pidOfPidfd of a reaped process = %d, want an error", pid)
	}
}
