//go:build linux && cgo

package filter_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosandbox/sandbox/internal/filter"
	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	archX86_64 = 0xc000003e
	archI386   = 0x40000003
	archARM64  = 0xc00000b7
	x32        = 0x40000000

	retKill  = 0x80000000
	retAllow = 0x7fff0000
	retErrno = 0x00050000
)

func noCaps() *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
}

func vm(t *testing.T, f *filter.Filter) *filter.VM {
	t.Helper()
	v, err := filter.NewVM(f.BPF)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type call struct {
	name string
	arch uint32
	nr   uint32
	args []uint64
	want uint32
}

func check(t *testing.T, f *filter.Filter, calls []call) {
	t.Helper()
	v := vm(t, f)
	for _, c := range calls {
		var args [6]uint64
		copy(args[:], c.args)
		got, err := v.Decide(c.arch, int32(c.nr), args)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s (arch %#x nr %d args %#x): got %#x, want %#x", c.name, c.arch, c.nr, c.args, uint32(got), c.want)
		}
	}
}

func dockerDefault(t *testing.T, edit func(*specs.LinuxSeccomp)) *filter.Filter {
	t.Helper()
	p, err := seccomp.GetDefaultProfile(noCaps())
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(p)
	}
	f, err := filter.Compile(p)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return f
}

func TestDockerDefault(t *testing.T) {
	if !isAMD64 {
		t.Skip("the table holds amd64 numbers")
	}
	eperm := uint32(retErrno | uint32(unix.EPERM))
	check(t, dockerDefault(t, nil), []call{
		{"getpid", archX86_64, 39, nil, retAllow},
		{"read", archX86_64, 0, nil, retAllow},
		{"execve", archX86_64, 59, nil, retAllow},
		{"mount", archX86_64, 165, nil, eperm},
		{"umount2", archX86_64, 166, nil, eperm},
		{"unshare", archX86_64, 272, nil, eperm},
		{"setns", archX86_64, 308, nil, eperm},
		{"keyctl", archX86_64, 250, nil, eperm},
		{"add_key", archX86_64, 248, nil, eperm},
		{"bpf", archX86_64, 321, nil, eperm},
		{"perf_event_open", archX86_64, 298, nil, eperm},
		{"open_by_handle_at", archX86_64, 304, nil, eperm},
		{"io_uring_setup", archX86_64, 425, nil, eperm},
		{"userfaultfd", archX86_64, 323, nil, eperm},
		{"acct", archX86_64, 163, nil, eperm},
		{"swapon", archX86_64, 167, nil, eperm},
		{"reboot", archX86_64, 169, nil, eperm},
		{"settimeofday", archX86_64, 164, nil, eperm},
		{"kexec_load", archX86_64, 246, nil, eperm},
		{"clone3", archX86_64, 435, nil, retErrno | uint32(unix.ENOSYS)},
		{"clone plain", archX86_64, 56, []uint64{uint64(unix.SIGCHLD)}, retAllow},
		{"clone thread", archX86_64, 56, []uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, retAllow},
		{"clone newuser", archX86_64, 56, []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone newns", archX86_64, 56, []uint64{unix.CLONE_NEWNS}, eperm},
		{"personality linux", archX86_64, 135, []uint64{0}, retAllow},
		{"personality query", archX86_64, 135, []uint64{0xffffffff}, retAllow},
		{"personality other", archX86_64, 135, []uint64{1}, eperm},
		// i386 and x32 twins get the same verdicts.
		{"i386 getpid", archI386, 20, nil, retAllow},
		{"i386 mount", archI386, 21, nil, eperm},
		{"i386 unshare", archI386, 310, nil, eperm},
		{"x32 getpid", archX86_64, 39 | x32, nil, retAllow},
		{"x32 mount", archX86_64, 165 | x32, nil, eperm},
		// An ABI the profile does not list dies.
		{"arm64 on amd64", archARM64, 172, nil, retKill},
		// Syscalls libseccomp 2.5.4 does not know, allowed by number.
		{"statmount", archX86_64, 457, nil, retAllow},
		{"x32 statmount", archX86_64, 457 | x32, nil, retAllow},
		{"i386 statmount", archI386, 457, nil, retAllow},
		{"listmount", archX86_64, 458, nil, retAllow},
		{"mseal", archX86_64, 462, nil, retAllow},
		{"getxattrat", archX86_64, 464, nil, retAllow},
		{"uretprobe", archX86_64, 335, nil, retAllow},
		// A number nobody allows gets the default below the highest
		// the profile names; above it ENOSYS, as under runc, so that
		// libcs fall back from calls newer than the profile.
		{"unassigned, below the highest named", archX86_64, 400, nil, eperm},
		{"file_getattr (6.17)", archX86_64, 468, nil, retErrno | uint32(unix.ENOSYS)},
		{"unassigned", archX86_64, 1000, nil, retErrno | uint32(unix.ENOSYS)},
		{"i386 unassigned", archI386, 1000, nil, retErrno | uint32(unix.ENOSYS)},
		{"x32 unassigned", archX86_64, 1000 | x32, nil, retErrno | uint32(unix.ENOSYS)},
	})
}

func TestDockerDefaultKill(t *testing.T) {
	if !isAMD64 {
		t.Skip("the table holds amd64 numbers")
	}
	check(t, dockerDefault(t, func(p *specs.LinuxSeccomp) { p.DefaultAction = specs.ActKillProcess }), []call{
		{"getpid", archX86_64, 39, nil, retAllow},
		{"mount", archX86_64, 165, nil, retKill},
		{"i386 mount", archI386, 21, nil, retKill},
		{"clone3 keeps ENOSYS", archX86_64, 435, nil, retErrno | uint32(unix.ENOSYS)},
		{"statmount", archX86_64, 457, nil, retAllow},
	})
}

func load(t *testing.T, json string) (*filter.Filter, error) {
	t.Helper()
	p, err := seccomp.LoadProfile(json, noCaps())
	if err != nil {
		t.Fatalf("LoadProfile: %v", err)
	}
	return filter.Compile(p)
}

func TestProfiles(t *testing.T) {
	if !isAMD64 {
		t.Skip("the table holds amd64 numbers")
	}
	tests := []struct {
		name  string
		json  string
		calls []call
	}{
		{
			name: "seed: legacy name form, errno without errnoRet is EPERM",
			json: `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mount","action":"SCMP_ACT_ERRNO"},{"name":"chown","action":"SCMP_ACT_ERRNO"}]}`,
			calls: []call{
				{"chown", archX86_64, 92, nil, retErrno | 1},
				{"mount", archX86_64, 165, nil, retErrno | 1},
				{"fchownat", archX86_64, 260, nil, retAllow},
				{"mkdir", archX86_64, 83, nil, retAllow},
				{"i386 getpid: arch not listed", archI386, 20, nil, retKill},
			},
		},
		{
			name: "errnoRet and defaultErrnoRet",
			json: `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[{"names":["getpid","read"],"action":"SCMP_ACT_ALLOW"},{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}`,
			calls: []call{
				{"getpid", archX86_64, 39, nil, retAllow},
				{"mkdir", archX86_64, 83, nil, retErrno | 13},
				{"write", archX86_64, 1, nil, retErrno | 38},
			},
		},
		{
			name: "args: alternatives on one index, conjunction across indexes",
			json: `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
				{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
				{"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_GE"},{"index":1,"value":15,"op":"SCMP_CMP_EQ"}]},
				{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":255,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}]}]}`,
			calls: []call{
				{"personality 0", archX86_64, 135, []uint64{0}, retAllow},
				{"personality 8", archX86_64, 135, []uint64{8}, retAllow},
				{"personality 1", archX86_64, 135, []uint64{1}, retErrno | 1},
				{"kill 5 TERM", archX86_64, 62, []uint64{5, 15}, retAllow},
				{"kill 5 KILL", archX86_64, 62, []uint64{5, 9}, retErrno | 1},
				{"kill 0 TERM", archX86_64, 62, []uint64{0, 15}, retErrno | 1},
				{"socket AF_INET", archX86_64, 41, []uint64{2}, retAllow},
				{"socket AF_INET high bits", archX86_64, 41, []uint64{0x102}, retAllow},
				{"socket AF_UNIX", archX86_64, 41, []uint64{1}, retErrno | 1},
			},
		},
		{
			name: "SCMP_ACT_KILL and _KILL_THREAD kill the thread, _KILL_PROCESS the process",
			json: `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_KILL"},{"names":["umount2"],"action":"SCMP_ACT_KILL_THREAD"},{"names":["pivot_root"],"action":"SCMP_ACT_KILL_PROCESS"}]}`,
			calls: []call{
				{"mount", archX86_64, 165, nil, unix.SECCOMP_RET_KILL_THREAD},
				{"umount2", archX86_64, 166, nil, unix.SECCOMP_RET_KILL_THREAD},
				{"pivot_root", archX86_64, 155, nil, retKill},
			},
		},
		{
			name: "architectures and a newer syscall denied by number",
			json: `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["statmount","mount"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}`,
			calls: []call{
				{"statmount", archX86_64, 457, nil, retErrno | 1},
				{"x32 statmount", archX86_64, 457 | x32, nil, retErrno | 1},
				{"i386 statmount", archI386, 457, nil, retErrno | 1},
				{"i386 mount", archI386, 21, nil, retErrno | 1},
				{"listmount", archX86_64, 458, nil, retAllow},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := load(t, tt.json)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			check(t, f, tt.calls)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ name, json, words string }{
		{"unknown action", `{"defaultAction":"SCMP_ACT_SOMETIMES"}`, "SCMP_ACT_SOMETIMES"},
		{"unknown rule action", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"BLOCK"}]}`, "BLOCK"},
		{"unknown syscall denied", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount","frobnicate"],"action":"SCMP_ACT_ERRNO"}]}`, "frobnicate"},
		{"unknown operator", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}`, "SCMP_CMP_ABOUT"},
		{"argument index", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}`, "index 6"},
		{"no names", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}`, "names no syscall"},
		{"notify without listenerPath", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_NOTIFY"}]}`, "SCMP_ACT_NOTIFY needs a listenerPath"},
		{"listenerPath without notify", `{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock"}`, "no SCMP_ACT_NOTIFY rule"},
		{"notify of write", `{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}`, "must allow read, write and execve"},
		{"unknown arch", `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_PDP11"]}`, "SCMP_ARCH_PDP11"},
		{"errno range", `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}`, "70000"},
		{"args on a syscall libseccomp does not know", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["statmount"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}`, "statmount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.json)
			if err == nil {
				t.Fatal("Compile succeeded")
			}
			if !strings.Contains(err.Error(), tt.words) {
				t.Errorf("error %q does not name %q", err, tt.words)
			}
		})
	}
}

// Every syscall Docker's profile allows is in the filter: known to
// libseccomp or resolved by number, none dropped.
func TestNothingDropped(t *testing.T) {
	unknown := filter.UnknownToLibseccomp()
	t.Logf("resolved by number (libseccomp does not know them): %v", unknown)
	p := seccomp.DefaultProfile()
	for _, s := range p.Syscalls {
		for _, n := range s.Names {
			if err := filter.Resolve(n); err != nil {
				t.Errorf("Docker's profile names %q: %v", n, err)
			}
		}
	}
}

// The compact form decides every call exactly as libseccomp's own program:
// every arch (the listed ones, i386, x32 and a foreign one), every number up
// to 1100 on each ABI, random and extreme numbers, and arguments that are
// zero, random or the profile's own constants.
func TestCompactMatchesFull(t *testing.T) {
	profiles := map[string]*specs.LinuxSeccomp{}
	def, err := seccomp.GetDefaultProfile(noCaps())
	if err != nil {
		t.Fatal(err)
	}
	profiles["docker-default"] = def
	kill, _ := seccomp.GetDefaultProfile(noCaps())
	kill.DefaultAction = specs.ActKillProcess
	profiles["docker-default-kill"] = kill
	for _, f := range []string{"seed.json", "chown-family.json", "conditional.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "profiles", f))
		if err != nil {
			t.Fatal(err)
		}
		p, err := seccomp.LoadProfile(string(b), noCaps())
		if err != nil {
			t.Fatal(err)
		}
		profiles[f] = p
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, p := range profiles {
		t.Run(name, func(t *testing.T) {
			compact, err := filter.Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			full, err := filter.CompileFull(p)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d instructions, libseccomp's own: %d", len(compact.BPF)/8, len(full.BPF)/8)
			vc, vf := vm(t, compact), vm(t, full)

			var consts []uint64
			for _, s := range p.Syscalls {
				for _, a := range s.Args {
					consts = append(consts, a.Value, a.Value+1, a.Value-1, a.ValueTwo)
				}
			}
			all := ^uint64(0)
			argSets := [][6]uint64{{}, {all, all, all, all, all, all}}
			for _, c := range consts {
				argSets = append(argSets, [6]uint64{c, c, c, c, c, c})
			}
			for range 3 {
				argSets = append(argSets, [6]uint64{rng.Uint64(), rng.Uint64(), rng.Uint64() & 0xffff, rng.Uint64(), rng.Uint64(), rng.Uint64()})
			}
			var nrs []uint32
			for n := uint32(0); n < 1100; n++ {
				nrs = append(nrs, n, n|x32)
			}
			for range 2000 {
				nrs = append(nrs, rng.Uint32())
			}
			nrs = append(nrs, 0x3fffffff, 0x7fffffff, 0x80000000, 0xffffffff, x32+0xffff)
			mismatches := 0
			for _, arch := range []uint32{archX86_64, archI386, archARM64, 0} {
				for _, nr := range nrs {
					for _, args := range argSets {
						a, err1 := vc.Decide(arch, int32(nr), args)
						b, err2 := vf.Decide(arch, int32(nr), args)
						if err1 != nil || err2 != nil || a != b {
							mismatches++
							if mismatches < 10 {
								t.Errorf("arch %#x nr %d (%#x) args %#x: compact %#x (%v), libseccomp %#x (%v)", arch, nr, nr, args, a, err1, b, err2)
							}
						}
					}
				}
			}
			if mismatches > 0 {
				t.Errorf("%d mismatches", mismatches)
			}
		})
	}
}

// The notify variant answers exactly where the program gives an errno or
// kills the process, and nowhere else; a thread kill stays the kernel's
// (TestNotifyVariantThreadKill).
func TestNotifyVariant(t *testing.T) {
	for _, kill := range []bool{false, true} {
		f := dockerDefault(t, nil)
		if kill {
			f = dockerDefault(t, func(p *specs.LinuxSeccomp) { p.DefaultAction = specs.ActKillProcess })
		}
		checkNotifyVariant(t, f)
	}
}

func checkNotifyVariant(t *testing.T, f *filter.Filter) {
	t.Helper()
	if f.Notify == nil {
		t.Fatal("no notify variant for Docker's default")
	}
	v, n := vm(t, f), vm(t, &filter.Filter{BPF: f.Notify})
	for nr := int32(0); nr < 500; nr++ {
		for _, args := range [][6]uint64{{}, {unix.CLONE_NEWUSER}} {
			a, _ := v.Decide(archX86_64, nr, args)
			b, _ := n.Decide(archX86_64, nr, args)
			if a&0xffff0000 == retErrno || a&0xffff0000 == retKill {
				a = unix.SECCOMP_RET_USER_NOTIF
			}
			if a != b {
				t.Errorf("nr %d args %#x: variant %#x, want %#x", nr, args, b, a)
			}
		}
	}
}

func TestNotifyVariantThreadKill(t *testing.T) {
	p, err := seccomp.LoadProfile(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_KILL_THREAD"},{"names":["umount2"],"action":"SCMP_ACT_KILL_PROCESS"}]}`, noCaps())
	if err != nil {
		t.Fatal(err)
	}
	f, err := filter.Compile(p)
	if err != nil || f.Notify == nil || !f.ThreadKills {
		t.Fatalf("Compile: %v, notify %v, thread kills %v", err, f.Notify != nil, f.ThreadKills)
	}
	n := vm(t, &filter.Filter{BPF: f.Notify})
	if got, _ := n.Decide(archX86_64, unix.SYS_MOUNT, [6]uint64{}); isAMD64 && got != unix.SECCOMP_RET_KILL_THREAD {
		t.Errorf("mount: %#x, want KILL_THREAD kept", got)
	}
	if got, _ := n.Decide(archX86_64, unix.SYS_UMOUNT2, [6]uint64{}); isAMD64 && got != unix.SECCOMP_RET_USER_NOTIF {
		t.Errorf("umount2: %#x, want USER_NOTIF", got)
	}
}

func TestNotifyVariantNeedsWrite(t *testing.T) {
	// A profile that denies write gets no variant: the launcher needs it.
	p, err := seccomp.LoadProfile(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["write"],"action":"SCMP_ACT_ERRNO"}]}`, noCaps())
	if err != nil {
		t.Fatal(err)
	}
	if g, err := filter.Compile(p); err != nil || g.Notify != nil {
		t.Errorf("Compile: %v, notify %v", err, g.Notify != nil)
	}
}

// Docker's default profile written out as JSON (what "sandbox profile show
// docker-default" prints) and loaded back compiles to the very same
// program as the built-in one.
func TestDefaultProfileRoundTrip(t *testing.T) {
	b, err := json.Marshal(seccomp.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	p, err := seccomp.LoadProfile(string(b), noCaps())
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := filter.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromJSON.BPF, dockerDefault(t, nil).BPF) {
		t.Error("the profile loaded back compiles to another program")
	}
}
