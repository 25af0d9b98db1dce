package rootfs_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gosandbox/sandbox/rootfs"
)

func defaultPlan(t *testing.T, mounts ...rootfs.Mount) []rootfs.Step {
	t.Helper()
	s := &rootfs.Spec{TmpSize: 64 << 20, UID: 65534, GID: 65534, Hostname: "sandbox", Mounts: mounts}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s.Plan()
}

func index(steps []rootfs.Step, f func(rootfs.Step) bool) int { return slices.IndexFunc(steps, f) }

func TestPlanOrder(t *testing.T) {
	steps := defaultPlan(t, rootfs.Mount{Kind: rootfs.Bind, Source: "/etc", Target: "/hostetc"})
	pivot := index(steps, func(s rootfs.Step) bool { return s.Op == rootfs.OpPivot })
	if pivot < 0 {
		t.Fatal("no pivot")
	}
	// Every capture comes before anything else: the host is still
	// visible then.
	lastCapture := -1
	for i, s := range steps {
		if s.Op == rootfs.OpCapture {
			lastCapture = i
		}
	}
	if first := index(steps, func(s rootfs.Step) bool { return s.Op != rootfs.OpCapture }); first <= lastCapture {
		t.Errorf("a capture at %d after another step at %d", lastCapture, first)
	}
	// proc is mounted before the pivot (the kernel needs a fully visible
	// proc in the namespace), everything else after it.
	proc := index(steps, func(s rootfs.Step) bool { return s.FSType == "proc" })
	if proc < 0 || proc > pivot {
		t.Errorf("proc at %d, pivot at %d", proc, pivot)
	}
	for _, s := range steps[pivot+1:] {
		if strings.HasPrefix(s.Target, rootfs.Base+"/") {
			t.Errorf("step after the pivot uses the old base: %+v", s)
		}
	}
	// The root goes read-only last.
	last := steps[len(steps)-1]
	if last.Op != rootfs.OpSetAttr || last.Target != "/" || last.AttrSet&rootfs.AttrRdonly == 0 {
		t.Errorf("last step %+v, want / read-only", last)
	}
}

// Every mount is nosuid and nodev, but the bound device nodes keep dev.
func TestPlanFlags(t *testing.T) {
	const msNosuid, msNodev, msBind = 0x2, 0x4, 0x1000
	steps := defaultPlan(t, rootfs.Mount{Kind: rootfs.Bind, Source: "/etc", Target: "/hostetc", Writable: true},
		rootfs.Mount{Kind: rootfs.Tmpfs, Target: "/scratch", Size: 1 << 20})
	for _, s := range steps {
		switch {
		case s.Op == rootfs.OpCapture && strings.HasPrefix(s.Source, "/dev/"):
			if s.AttrSet&rootfs.AttrNosuid == 0 || s.AttrSet&rootfs.AttrNodev != 0 || s.AttrSet&rootfs.AttrNoexec == 0 {
				t.Errorf("device %s: attrs %#x, want nosuid,noexec and dev", s.Source, s.AttrSet)
			}
		case s.Op == rootfs.OpCapture:
			if s.AttrSet&(rootfs.AttrNosuid|rootfs.AttrNodev) != rootfs.AttrNosuid|rootfs.AttrNodev {
				t.Errorf("capture %s: attrs %#x, want nosuid,nodev", s.Source, s.AttrSet)
			}
			if s.Source == "/etc" && s.AttrSet&rootfs.AttrRdonly != 0 {
				t.Errorf("writable bind made read-only")
			}
		case s.Op == rootfs.OpMount && s.Flags&msBind == 0 && s.FSType != "devpts":
			if s.Flags&(msNosuid|msNodev) != msNosuid|msNodev {
				t.Errorf("mount %s (%s): flags %#x, want nosuid,nodev", s.Target, s.FSType, s.Flags)
			}
			if s.Flags&msNosuid == 0 {
				t.Errorf("mount %s: not nosuid", s.Target)
			}
		}
	}
}

func TestPlanEtc(t *testing.T) {
	steps := defaultPlan(t)
	files := map[string]string{}
	for _, s := range steps {
		if s.Op == rootfs.OpWriteFile {
			files[s.Target] = s.Data
		}
		if strings.Contains(s.Target, "shadow") || strings.Contains(s.Source, "shadow") {
			t.Errorf("a step touches shadow: %+v", s)
		}
	}
	if !strings.Contains(files["/etc/passwd"], "sandbox:x:65534:65534:") {
		t.Errorf("passwd: %q", files["/etc/passwd"])
	}
	if !strings.Contains(files["/etc/group"], "sandbox:x:65534:") {
		t.Errorf("group: %q", files["/etc/group"])
	}
	if !strings.Contains(files["/etc/hosts"], "sandbox") || files["/etc/nsswitch.conf"] == "" {
		t.Errorf("hosts %q nsswitch %q", files["/etc/hosts"], files["/etc/nsswitch.conf"])
	}
}

// Docker's masked and read-only /proc paths are all in the plan.
func TestPlanProcMasks(t *testing.T) {
	steps := defaultPlan(t)
	var targets []string
	for _, s := range steps {
		if strings.HasPrefix(s.Target, "/proc/") {
			targets = append(targets, s.Target)
		}
	}
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/acpi", "/proc/scsi", "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"} {
		if !slices.Contains(targets, p) {
			t.Errorf("%s is neither masked nor read-only", p)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		m    rootfs.Mount
	}{
		{"relative target", rootfs.Mount{Kind: rootfs.Tmpfs, Target: "tmp2"}},
		{"unclean target", rootfs.Mount{Kind: rootfs.Tmpfs, Target: "/a/../b"}},
		{"root target", rootfs.Mount{Kind: rootfs.Tmpfs, Target: "/"}},
		{"proc target", rootfs.Mount{Kind: rootfs.Tmpfs, Target: "/proc/sys"}},
		{"relative source", rootfs.Mount{Kind: rootfs.Bind, Source: "etc", Target: "/x"}},
		{"missing source", rootfs.Mount{Kind: rootfs.Bind, Source: "/no/such", Target: "/x"}},
		{"negative size", rootfs.Mount{Kind: rootfs.Tmpfs, Target: "/x", Size: -1}},
		{"unknown kind", rootfs.Mount{Target: "/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &rootfs.Spec{Mounts: []rootfs.Mount{tt.m}}
			if err := s.Validate(); !errors.Is(err, rootfs.ErrBadMount) {
				t.Errorf("Validate = %v, want ErrBadMount", err)
			}
		})
	}
}
