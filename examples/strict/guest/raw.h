// raw.h: the four system calls of SECCOMP_MODE_STRICT, without libc.
//
// A strict guest has no libc start-up: _start is its first instruction, and
// it must end with exit, not exit_group (which strict mode does not allow;
// libc's exit() and a return from main both call exit_group).
#ifndef RAW_H
#define RAW_H

#include <asm/unistd.h>

static inline long raw3(long n, long a, long b, long c)
{
#if defined(__x86_64__)
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
#else
#error "raw.h supports amd64 and arm64"
#endif
}

static inline long sys_read(int fd, void *buf, long n) { return raw3(__NR_read, fd, (long)buf, n); }
static inline long sys_write(int fd, const void *buf, long n) { return raw3(__NR_write, fd, (long)buf, n); }

// sys_exit ends the thread, which in a guest of one thread is the process.
static inline void __attribute__((noreturn)) sys_exit(int code)
{
	for (;;)
		raw3(__NR_exit, code, 0, 0);
}

// write_all writes all of buf.
static inline int write_all(int fd, const char *buf, long n)
{
	while (n > 0) {
		long w = sys_write(fd, buf, n);
		if (w <= 0)
			return -1;
		buf += w;
		n -= w;
	}
	return 0;
}

#endif
