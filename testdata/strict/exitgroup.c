// exitgroup ends with exit_group, as libc's exit() would: strict mode kills.
#include "raw.h"

__attribute__((force_align_arg_pointer, noreturn)) void _start(void)
{
	write_all(1, "bye\n", 4);
	for (;;)
		raw3(__NR_exit_group, 0, 0, 0);
}
