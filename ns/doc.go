// Package ns names the Linux namespaces a sandbox can have and computes the
// id maps of its user namespace.
//
// A caller uses it in two ways:
//
//   - to say which namespaces a sandbox goes without:
//     sandbox.WithoutNamespaces(ns.Net|ns.IPC) keeps the host's network and
//     IPC, every other namespace still new (ns.All is the default);
//   - to know, before a run, which host ids the sandbox's user will have:
//     MapsFor(uid, gid, os.Geteuid(), os.Getegid()) gives the maps the
//     sandbox writes, so that a directory can be made writable for that
//     host uid (Maps.UID.Outside) rather than for everyone.
//
// It makes no system call; package sandbox applies what it computes.
package ns
