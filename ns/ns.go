package ns

import (
	"strconv"
	"strings"
)

// Set is a set of namespaces.
type Set uint8

// The namespaces. All of them are on by default in a sandbox.
const (
	User Set = 1 << iota
	PID
	Mount
	Net
	IPC
	UTS
	Cgroup

	// All is every namespace above.
	All = User | PID | Mount | Net | IPC | UTS | Cgroup
)

// names are the namespaces with their CLONE_NEW* flags, Linux's values
// (the same on every Linux architecture: written out, so that this
// package builds wherever a Go program that imports it does).
var names = [...]struct {
	ns   Set
	name string
	flag uintptr
}{
	{User, "user", 0x10000000},
	{PID, "pid", 0x20000000},
	{Mount, "mount", 0x00020000},
	{Net, "net", 0x40000000},
	{IPC, "ipc", 0x08000000},
	{UTS, "uts", 0x04000000},
	{Cgroup, "cgroup", 0x02000000},
}

// Has reports whether every namespace of t is in s.
func (s Set) Has(t Set) bool { return s&t == t }

// CloneFlags returns the CLONE_NEW* flags of s.
func (s Set) CloneFlags() uintptr {
	var f uintptr
	for _, n := range names {
		if s.Has(n.ns) {
			f |= n.flag
		}
	}
	return f
}

// String returns the names of the namespaces in s, joined by "|", or "none".
func (s Set) String() string {
	var parts []string
	for _, n := range names {
		if s.Has(n.ns) {
			parts = append(parts, n.name)
		}
	}
	if rest := s &^ All; rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// IDMap is one line of a uid_map or gid_map: Count ids from Inside map to
// ids from Outside in the parent namespace.
type IDMap struct {
	Inside, Outside, Count uint32
}

// String returns the line as the kernel reads it.
func (m IDMap) String() string {
	return strconv.FormatUint(uint64(m.Inside), 10) + " " +
		strconv.FormatUint(uint64(m.Outside), 10) + " " +
		strconv.FormatUint(uint64(m.Count), 10) + "\n"
}

// Nobody is the unprivileged host id that a sandbox started by host root
// runs as.
const Nobody = 65534

// Maps is the id mapping of a sandbox's user namespace.
type Maps struct {
	UID, GID IDMap
	// DenySetgroups says setgroups(2) must be denied in the namespace: an
	// unprivileged parent may write a gid_map only then.
	DenySetgroups bool
}

// MapsFor maps the sandbox user uid:gid to a single host id each. When the
// caller is host root (euid 0) the host ids are [Nobody], never root; for any
// other caller they are the caller's own euid and egid, the only ids an
// unprivileged process may map.
func MapsFor(uid, gid uint32, callerEUID, callerEGID int) Maps {
	if callerEUID == 0 {
		return Maps{
			UID: IDMap{Inside: uid, Outside: Nobody, Count: 1},
			GID: IDMap{Inside: gid, Outside: Nobody, Count: 1},
		}
	}
	return Maps{
		UID:           IDMap{Inside: uid, Outside: uint32(callerEUID), Count: 1},
		GID:           IDMap{Inside: gid, Outside: uint32(callerEGID), Count: 1},
		DenySetgroups: true,
	}
}
