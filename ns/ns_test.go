package ns_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gosandbox/sandbox/ns"
	"golang.org/x/sys/unix"
)

func TestMapsFor(t *testing.T) {
	tests := []struct {
		name       string
		uid, gid   uint32
		euid, egid int
		want       ns.Maps
	}{
		{
			name: "host root maps to nobody, never root",
			uid:  65534, gid: 65534, euid: 0, egid: 0,
			want: ns.Maps{UID: ns.IDMap{Inside: 65534, Outside: ns.Nobody, Count: 1}, GID: ns.IDMap{Inside: 65534, Outside: ns.Nobody, Count: 1}},
		},
		{
			name: "host root with uid 0 inside still maps to nobody",
			uid:  0, gid: 0, euid: 0, egid: 0,
			want: ns.Maps{UID: ns.IDMap{Inside: 0, Outside: ns.Nobody, Count: 1}, GID: ns.IDMap{Inside: 0, Outside: ns.Nobody, Count: 1}},
		},
		{
			name: "rootless maps to the caller and denies setgroups",
			uid:  65534, gid: 65534, euid: 1000, egid: 100,
			want: ns.Maps{UID: ns.IDMap{Inside: 65534, Outside: 1000, Count: 1}, GID: ns.IDMap{Inside: 65534, Outside: 100, Count: 1}, DenySetgroups: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ns.MapsFor(tt.uid, tt.gid, tt.euid, tt.egid)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("MapsFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIDMapString(t *testing.T) {
	if got, want := (ns.IDMap{Inside: 65534, Outside: 1000, Count: 1}).String(), "65534 1000 1\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSet(t *testing.T) {
	if got, want := ns.All.CloneFlags(), uintptr(unix.CLONE_NEWUSER|unix.CLONE_NEWPID|unix.CLONE_NEWNS|unix.CLONE_NEWNET|unix.CLONE_NEWIPC|unix.CLONE_NEWUTS|unix.CLONE_NEWCGROUP); got != want {
		t.Errorf("All.CloneFlags() = %#x, want %#x", got, want)
	}
	if got, want := (ns.All &^ ns.Net).String(), "user|pid|mount|ipc|uts|cgroup"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := ns.Set(0).String(); got != "none" {
		t.Errorf("Set(0).String() = %q, want none", got)
	}
	if (ns.All &^ ns.Net).Has(ns.Net) {
		t.Error("Has(Net) after removing Net")
	}
}
