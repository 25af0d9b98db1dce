// sum reads integers from stdin and writes their sum: the seed's "rent out
// your CPU" guest. It runs in SECCOMP_MODE_STRICT, so it may only read,
// write and exit.
//
//   gcc -static -nostdlib -O2 -o sum sum.c
#include "raw.h"

// The entry point, with no libc to align the stack for it.
__attribute__((force_align_arg_pointer, noreturn)) void _start(void)
{
	char buf[4096], out[32];
	long sum = 0, cur = 0;
	int neg = 0, in = 0;
	for (;;) {
		long n = sys_read(0, buf, sizeof buf);
		if (n < 0)
			sys_exit(2);
		for (long i = 0; i < n || (n == 0 && i == 0); i++) {
			char c = n == 0 ? ' ' : buf[i];
			if (c >= '0' && c <= '9') {
				cur = cur * 10 + (c - '0');
				in = 1;
			} else if (c == '-' && !in) {
				neg = 1;
			} else {
				if (in)
					sum += neg ? -cur : cur;
				cur = neg = in = 0;
			}
		}
		if (n == 0)
			break;
	}
	// Format sum in decimal, right to left.
	int i = sizeof out;
	out[--i] = '\n';
	unsigned long u = sum < 0 ? -(unsigned long)sum : (unsigned long)sum;
	do {
		out[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (sum < 0)
		out[--i] = '-';
	sys_exit(write_all(1, out + i, (long)sizeof out - i) ? 1 : 0);
}
