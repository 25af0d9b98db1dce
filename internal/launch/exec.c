// The launcher's last step: execve of the program, the first candidate
// path that is there, and for strict mode a check that it is a static ELF
// executable of the native arch, executed through the fd checked.

#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "launcher.h"
#include "raw.h"

#define P(x) ((const char *)(uintptr_t)(x))

long sb_exec_first(const uint64_t *cands, const char *const *argv, const char *const *envp)
{
	long eacces = 0;
	for (const uint64_t *c = cands; *c; c++) {
		long r = SYS3(SYS_execve, P(*c), argv, envp);
		switch (r) {
		case -ENOENT:
		case -ENOTDIR:
			continue;
		case -EACCES:
			eacces = r;
			continue;
		default:
			return r;
		}
	}
	return eacces ? eacces : -ENOENT;
}

#if defined(__x86_64__)
#define NATIVE_EM EM_X86_64
#elif defined(__aarch64__)
#define NATIVE_EM EM_AARCH64
#endif

// check_static reads the ELF header and program headers of fd: a static
// executable of the native arch, with no PT_INTERP, or an SB_E* error.
// (Both supported arches are little-endian 64-bit, as the host is.)
static long check_static(int fd)
{
	union {
		Elf64_Ehdr h;
		unsigned char b[sizeof(Elf64_Ehdr)];
	} eh;
	Elf64_Phdr ph;
	long n = SYS4(SYS_pread64, fd, &eh, sizeof eh, 0);
	if (n < 0)
		return n;
	if (n >= 2 && eh.b[0] == '#' && eh.b[1] == '!')
		return -SB_ESCRIPT;
	if (n < (long)sizeof eh.h || eh.h.e_ident[EI_MAG0] != ELFMAG0 || eh.h.e_ident[EI_MAG1] != ELFMAG1 ||
	    eh.h.e_ident[EI_MAG2] != ELFMAG2 || eh.h.e_ident[EI_MAG3] != ELFMAG3)
		return -SB_ENOTELF;
	if (eh.h.e_ident[EI_CLASS] != ELFCLASS64 || eh.h.e_ident[EI_DATA] != ELFDATA2LSB || eh.h.e_machine != NATIVE_EM)
		return -SB_EARCH;
	if (eh.h.e_type != ET_EXEC && eh.h.e_type != ET_DYN) // ET_DYN: a static-pie
		return -SB_ENOTELF;
	if (eh.h.e_phentsize != sizeof ph)
		return -SB_ENOTELF;
	for (uint16_t i = 0; i < eh.h.e_phnum; i++) {
		n = SYS4(SYS_pread64, fd, &ph, sizeof ph, eh.h.e_phoff + (uint64_t)i * sizeof ph);
		if (n != (long)sizeof ph)
			return n < 0 ? n : -SB_ENOTELF;
		if (ph.p_type == PT_INTERP)
			return -SB_EDYNAMIC;
	}
	return 0;
}

// exec_static is exec_first for static guests: each candidate is opened,
// checked, and executed through the same fd, so the file checked is the
// file run.
long sb_exec_static(const uint64_t *cands, const char *const *argv, const char *const *envp)
{
	long eacces = 0;
	for (const uint64_t *c = cands; *c; c++) {
		long fd = SYS4(SYS_openat, AT_FDCWD, P(*c), O_RDONLY | O_CLOEXEC, 0);
		if (fd == -ENOENT || fd == -ENOTDIR)
			continue;
		if (fd == -EACCES) {
			eacces = fd;
			continue;
		}
		if (fd < 0)
			return fd;
		long r = check_static((int)fd);
		if (r == 0)
			r = raw6(SYS_execveat, fd, (long)"", (long)argv, (long)envp, AT_EMPTY_PATH, 0);
		SYS1(SYS_close, fd);
		return r;
	}
	return eacces ? eacces : -ENOENT;
}


