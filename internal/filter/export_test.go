//go:build linux && cgo

package filter

// CompileFull is Compile without the compact form: libseccomp's program as
// it is, the reference the compact form must match.
var CompileFull = compileFull
