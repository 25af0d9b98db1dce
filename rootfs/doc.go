// Package rootfs plans the root file system of a sandbox: the list of
// mount, mkdir and file steps that build it, as plain data.
//
// A caller uses it to look before it runs:
//
//   - Spec.Validate checks a set of mounts (the ones sandbox.WithBind,
//     WithBindRW, WithTmpfs and WithRootDir make) the way a run would, and
//     its errors match ErrBadMount;
//   - Spec.Plan lists every step that would build the root, in order, to
//     print, diff between versions, or test a configuration without
//     privilege.
//
// Package sandbox runs the plan in the sandbox's child; this package does no
// system call but a few lstat calls on the host, so that the plan can be
// tested without privilege.
//
// A plan has two halves around a pivot. Before it, every bind source is
// captured as a detached mount (open_tree) while the host tree is still
// visible, a tmpfs (or the caller's root directory) is mounted at Base, and
// proc is mounted under it (a user namespace may mount proc only while a
// fully visible proc is in its mount namespace). After the pivot the host is
// gone: every later path is resolved inside the new root, so a symlink there
// can never lead to the host.
package rootfs
