package rootfs_test

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/gosandbox/sandbox/rootfs"
)

// Check a bind before a run, and list the steps that would build the root.
func ExampleSpec_Plan() {
	bad := rootfs.Spec{Mounts: []rootfs.Mount{{Kind: rootfs.Bind, Source: "relative/dir", Target: "/data"}}}
	fmt.Println(errors.Is(bad.Validate(), rootfs.ErrBadMount))

	spec := rootfs.Spec{Mounts: []rootfs.Mount{{Kind: rootfs.Bind, Source: "/usr", Target: "/data"}}}
	if err := spec.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range spec.Plan() {
		if s.Target == "/data" || s.Source == "/usr" && s.Stage == "bind /data" {
			fmt.Println(s.Op, cmp.Or(s.Target, s.Source))
		}
	}
	// Output:
	// true
	// open_tree /usr
	// mkdir /data
	// move_mount /data
}
