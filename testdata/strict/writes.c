// writes reads a count n from stdin, then makes n 1-byte writes to fd 1:
// the benchmark of a system call's cost under each seccomp mode.
#include "raw.h"

__attribute__((force_align_arg_pointer, noreturn)) void _start(void)
{
	char buf[32];
	long n = 0, r = sys_read(0, buf, sizeof buf);
	for (long i = 0; i < r && buf[i] >= '0' && buf[i] <= '9'; i++)
		n = n * 10 + (buf[i] - '0');
	for (long i = 0; i < n; i++)
		sys_write(1, "x", 1);
	sys_exit(0);
}
