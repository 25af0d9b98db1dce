//go:build linux && cgo

package filter

import (
	"runtime"

	"golang.org/x/net/bpf"
)

// The sandbox's additions to every filter it builds, whatever the profile
// says (Guard).
const (
	tiocsti   = 0x5412 // push a byte into a terminal's input queue
	tioclinux = 0x541c // the console's selection paste, likewise
	afVsock   = 40
	retEPERM  = retErrno | 1
	sysSocket = 1 // socketcall's SYS_SOCKET
)

// guardABI is what Guard checks on one ABI: the numbers of ioctl and
// socket, and of socketcall where the ABI multiplexes through it.
type guardABI struct {
	arch                      uint32
	ioctl, socket, socketcall uint32 // 0: none
	x32                       bool   // numbers with the x32 bit, on arch
}

func guardABIs() []guardABI {
	if runtime.GOARCH == "arm64" {
		return []guardABI{{arch: auditArchAArch64, ioctl: 29, socket: 198}, {arch: auditArchARM, ioctl: 54, socket: 281}}
	}
	return []guardABI{
		{arch: auditArchX86_64, ioctl: 16, socket: 41},
		{arch: auditArchX86_64, ioctl: 514 | x32Bit, socket: 41 | x32Bit, x32: true},
		{arch: auditArchI386, ioctl: 54, socket: 359, socketcall: 102},
	}
}

// Guard returns prog (struct sock_filter bytes) behind a prefix that
// denies, with EPERM, on every ABI:
//   - ioctl TIOCSTI and TIOCLINUX, which push keystrokes into a terminal
//     (CVE-2017-5226): on the low 32 bits of the command, as the kernel
//     reads it;
//   - with noVsock, socket(AF_VSOCK), which a network namespace does not
//     confine (a connect to the hypervisor, CID 2, is answered), and on
//     i386 socketcall(SYS_SOCKET), whose domain BPF cannot read.
//
// The rest of prog is unchanged, so what it allows or denies otherwise is
// the profile's. notifyRet is what the prefix returns instead of EPERM (a
// notify variant's USER_NOTIF), or 0.
func Guard(prog []byte, noVsock bool, notifyRet uint32) []byte {
	deny := uint32(retEPERM)
	if notifyRet != 0 {
		deny = notifyRet
	}
	// Each ABI's block ends in a jump to the next ABI's block, or past
	// the prefix; a match returns deny. Blocks are built back to front,
	// so the distance to what follows is known.
	var tail []bpf.Instruction // the blocks after the current one
	abis := guardABIs()
	for i := len(abis) - 1; i >= 0; i-- {
		a := abis[i]
		var b []bpf.Instruction
		checks := []struct{ nr, argOff, val uint32 }{
			{a.ioctl, offArg0 + 8, tiocsti},
			{a.ioctl, offArg0 + 8, tioclinux},
		}
		if noVsock {
			checks = append(checks, struct{ nr, argOff, val uint32 }{a.socket, offArg0, afVsock})
			if a.socketcall != 0 {
				checks = append(checks, struct{ nr, argOff, val uint32 }{a.socketcall, offArg0, sysSocket})
			}
		}
		// ld arch; jne arch -> next block
		// per check: ld nr; jne nr -> skip 3; ld arg; jne val -> skip 1; ret deny
		body := len(checks) * 5
		b = append(b, bpf.LoadAbsolute{Off: offArch, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: a.arch, SkipTrue: uint8(body)})
		for _, c := range checks {
			b = append(b,
				bpf.LoadAbsolute{Off: offNr, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: c.nr, SkipTrue: 3},
				bpf.LoadAbsolute{Off: c.argOff, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: c.val, SkipTrue: 1},
				bpf.RetConstant{Val: deny},
			)
		}
		tail = append(b, tail...)
	}
	raw, err := bpf.Assemble(tail)
	if err != nil {
		panic("filter: assembling the guard: " + err.Error()) // fixed shapes: cannot fail
	}
	return append(encode(raw), prog...)
}
