// fault writes a line, then dereferences NULL: a fault, which strict mode
// does not stop, and which must kill the guest with SIGSEGV at once.
#include "raw.h"

__attribute__((force_align_arg_pointer, noreturn)) void _start(void)
{
	write_all(1, "before fault\n", 13);
	*(volatile int *)0 = 0;
	write_all(1, "after fault\n", 12);
	sys_exit(0);
}
