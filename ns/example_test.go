package ns_test

import (
	"fmt"

	"github.com/gosandbox/sandbox/ns"
)

// The host ids a sandbox's user (65534, the default) gets when root runs
// it, and when user 1000 does: a directory the program must write to can
// be given to that host uid alone.
func ExampleMapsFor() {
	for _, caller := range []int{0, 1000} {
		m := ns.MapsFor(ns.Nobody, ns.Nobody, caller, caller)
		fmt.Printf("caller %d: uid_map %q, gid_map %q\n", caller, m.UID.String(), m.GID.String())
	}
	// Output:
	// caller 0: uid_map "65534 65534 1\n", gid_map "65534 65534 1\n"
	// caller 1000: uid_map "65534 1000 1\n", gid_map "65534 1000 1\n"
}

// Which namespaces are left when a sandbox keeps the host's network.
func ExampleSet() {
	s := ns.All &^ ns.Net
	fmt.Println(s, s.Has(ns.Net), s.Has(ns.PID))
	// Output: user|pid|mount|ipc|uts|cgroup false true
}
