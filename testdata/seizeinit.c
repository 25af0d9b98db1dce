// seizeinit calls ptrace(PTRACE_SEIZE, 1) as its very first instruction
// and writes "seize ERRNO": a program racing to trace its unfiltered init
// before the init can make itself unreachable.
#include "raw.h"

#define PTRACE_SEIZE 0x4206

static long raw4(long n, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

__attribute__((force_align_arg_pointer, noreturn)) void _start(void)
{
	long r = raw4(__NR_ptrace, PTRACE_SEIZE, 1, 0, 0);
	char out[] = "seize 0000\n";
	long e = r < 0 ? -r : 0;
	for (int i = 9; i >= 6; i--, e /= 10)
		out[i] = (char)('0' + e % 10);
	write_all(1, out, sizeof out - 1);
	raw3(__NR_exit_group, 0, 0, 0);
	sys_exit(0);
}
