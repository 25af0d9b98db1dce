// The sandbox's init, and the fork of the program from it (SB_INIT), and
// the program's hand-over to its tracer (SB_TRACEE). See launcher.c.

#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "launcher.h"
#include "raw.h"

#ifndef __WALL
#define __WALL 0x40000000
#endif

// The program's stack between its fork by the init and its exec.
#define STACK_SIZE (64 * 1024)


static char *new_stack(long *err)
{
	char *stack = (char *)SYS6(SYS_mmap, 0, STACK_SIZE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if ((long)stack < 0 && (long)stack > -4096) {
		*err = (long)stack;
		return NULL;
	}
	// A guard page: a runaway stack faults instead of writing over
	// whatever lies below it.
	long r = SYS3(SYS_mprotect, stack, sb_page_size, PROT_NONE);
	if (r < 0) {
		*err = r;
		SYS2(SYS_munmap, stack, STACK_SIZE);
		return NULL;
	}
	return stack;
}

// ready_stack is a stack made ahead (sb_ready_init), or NULL.
static char *ready_stack;

// sb_ready_init makes the program's stack before a child parks, so that
// a Pool's run pays neither the mapping nor the first faults of its top.
void sb_ready_init(void)
{
	long err = 0;
	if (ready_stack == NULL && (ready_stack = new_stack(&err)) != NULL)
		for (long off = STACK_SIZE - sb_page_size; off >= STACK_SIZE - 4 * sb_page_size; off -= sb_page_size)
			ready_stack[off] = 0;
}

struct sb_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

// raw_clone3 makes a child with clone3 on a new stack. The child starts
// there with no frame to return to: the trampoline calls fn(arg) from
// registers the kernel preserves, then exit_group with its result.
static long raw_clone3(struct sb_clone_args *args, int (*fn)(void *), void *arg)
{
#if defined(__x86_64__)
	register long r12 __asm__("r12") = (long)arg;
	register long r13 __asm__("r13") = (long)fn;
	long ret;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "and $-16, %%rsp\n\t"
			 "mov %%r12, %%rdi\n\t"
			 "call *%%r13\n\t"
			 "mov %%eax, %%edi\n\t"
			 "mov $231, %%eax\n\t" // exit_group
			 "syscall\n\t"
			 "hlt\n"
			 "1:"
			 : "=a"(ret)
			 : "a"(SYS_clone3), "D"(args), "S"(sizeof *args), "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x0 __asm__("x0") = (long)args;
	register long x1 __asm__("x1") = sizeof *args;
	register long x8 __asm__("x8") = SYS_clone3;
	register long x19 __asm__("x19") = (long)arg;
	register long x20 __asm__("x20") = (long)fn;
	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x29, xzr\n\t"
			 "mov x0, x19\n\t"
			 "blr x20\n\t"
			 "mov x8, #94\n\t" // exit_group
			 "svc #0\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x1), "r"(x8), "r"(x19), "r"(x20)
			 : "x30", "memory");
	return x0;
#endif
}

static void put(struct sb_config *cfg, int32_t step, int32_t err)
{
	struct sb_record rec = {.step = step, .err = err};
	SYS3(SYS_write, cfg->err_fd, &rec, sizeof rec);
}

// tracee hands the supervisor a pidfd of this process and waits until it
// has attached (PTRACE_SEIZE): the program is then traced from its exec on,
// by the supervisor, whatever process is its parent.
long sb_tracee(struct sb_config *cfg)
{
	char b;
	long pid = SYS0(SYS_getpid);
	long fd = SYS2(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return fd;
	struct sb_record rec = {.step = SB_TRACEE, .err = (int32_t)fd};
	long r = SYS3(SYS_write, cfg->err_fd, &rec, sizeof rec);
	if (r >= 0 && (r = SYS3(SYS_read, cfg->sync_fd, &b, 1)) != 1)
		r = r < 0 ? r : -EPIPE;
	SYS1(SYS_close, fd);
	return r < 0 ? r : 0;
}

// program_main is the program's side of SB_INIT: the steps after it, to
// the exec, on its own stack in its init's memory (CLONE_VM|CLONE_VFORK:
// the init waits for the exec).
static int program_main(void *arg)
{
	struct sb_config *cfg = arg;
	sb_run_steps(cfg, cfg->resume);
}

// end reports the program's wait status and ends the init. Unless the
// program is traced, every other process of the sandbox is killed and
// reaped first, as the kernel would kill them at the init's exit: the
// report (SB_DONE) then says that none is left, so that the supervisor
// need not wait for the namespaces' teardown, which follows the init's
// exit. A traced process may only be reapable once its tracer (the
// supervisor) has seen its end: that init reports SB_STATUS, and goes.
static void __attribute__((noreturn)) end(struct sb_config *cfg, int status, int traced)
{
	int32_t step = SB_STATUS;
	// Only as pid 1 of the sandbox's own pid namespace (as every init
	// is): anywhere else, kill(-1) would reach the host's processes.
	if (!traced && SYS0(SYS_getpid) == 1) {
		// kill(-1) from a pid namespace's init reaches every process
		// of the namespace (and of those nested in it) but the init:
		// all run as the sandbox user, which the init is too.
		SYS2(SYS_kill, -1, SIGKILL);
		long p;
		int st;
		while ((p = SYS4(SYS_wait4, -1, &st, __WALL, 0)) > 0 || p == -EINTR)
			;
		if (p == -ECHILD)
			step = SB_DONE;
	}
	put(cfg, step, status);
	SYS1(SYS_exit_group, 0);
	__builtin_unreachable();
}

// init_main is the init's side of SB_INIT, once the program has exec'd.
static void __attribute__((noreturn)) init_main(struct sb_config *cfg, long pid, int pidfd, int traced)
{
	// The program's pidfd goes along (SCM_RIGHTS), and its seccomp
	// listener if it made one: the supervisor could not take them from a
	// process that is not dumpable, as this one is.
	int fds[2] = {pidfd, cfg->listener};
	int nfds = cfg->listener >= 0 ? 2 : 1;
	struct sb_record rec = {.step = SB_STARTED, .err = pidfd};
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} ctl = {0};
	struct iovec iov = {.iov_base = &rec, .iov_len = sizeof rec};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	__builtin_memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	SYS3(SYS_sendmsg, cfg->err_fd, &msg, 0);
	// Nothing of the program's stays open here: its output pipes end
	// when it and its descendants are done, not when the init is.
	int keep[2] = {cfg->err_fd < pidfd ? cfg->err_fd : pidfd, cfg->err_fd < pidfd ? pidfd : cfg->err_fd};
	if (keep[0] > 0)
		SYS3(SYS_close_range, 0, keep[0] - 1, 0);
	if (keep[1] > keep[0] + 1)
		SYS3(SYS_close_range, keep[0] + 1, keep[1] - 1, 0);
	SYS3(SYS_close_range, keep[1] + 1, ~0U, 0);
	// Not dumpable (see sb_start_init); here for a traced program,
	// whose tracer needed this process dumpable until the exec.
	SYS2(SYS_prctl, PR_SET_DUMPABLE, 0);
	// Every signal stays blocked (the zygote's mask): they queue, even
	// those a pid 1 would ignore, and are taken here one by one.
	uint64_t all = ~0ULL;
	for (;;) {
		unsigned char info[128];
		long sig = SYS4(SYS_rt_sigtimedwait, &all, info, 0, 8);
		if (sig == SIGCHLD) {
			int status;
			long p;
			while ((p = SYS4(SYS_wait4, -1, &status, WNOHANG | __WALL, 0)) > 0) {
				if (p == pid)
					end(cfg, status, traced);
			}
			if (p == -ECHILD) // the program was reaped under us: cannot be
				SYS1(SYS_exit_group, 127);
		} else if (sig > 0) {
			// Forwarded as it came: the program gets what was
			// sent to the sandbox.
			SYS4(SYS_pidfd_send_signal, pidfd, sig, 0, 0);
		}
	}
}

// traced says whether a step from i on hands the program to a tracer.
static int traced(const struct sb_config *cfg, int i)
{
	for (; i < cfg->nsteps; i++)
		if (cfg->steps[i].code == SB_TRACEE)
			return 1;
	return 0;
}

// start_init forks the program at step i, and goes on as its init.
void sb_start_init(struct sb_config *cfg, int i)
{
	long err = 0;
	int pidfd = -1;
	char *stack = ready_stack ? ready_stack : new_stack(&err);
	if (!stack)
		sb_die(cfg, i, err);
	cfg->resume = i + 1;
	// The program runs as the same user and could ptrace this process,
	// which has no seccomp filter, and so escape its own: from its first
	// instruction on, which may well come before this process runs again
	// after the exec (a static program did it in most runs rootless).
	// Not dumpable, it can only be traced with CAP_SYS_PTRACE in the
	// initial user namespace. A traced program is the exception: its
	// tracer attaches through this process (which shares its memory
	// until the exec), and init_main makes it non-dumpable after. Strict
	// mode holds the program from its first instruction on; a learning
	// run denies nothing, so reaching the unfiltered init gains nothing.
	int is_traced = traced(cfg, i + 1);
	if (!is_traced) {
		long r = SYS2(SYS_prctl, PR_SET_DUMPABLE, 0);
		if (r < 0)
			sb_die(cfg, i, r);
	}
	// CLONE_FILES: the program's fds (a listener, a pidfd for the
	// tracer) are the init's too until the exec: the init sends the
	// listener on, and the tracer takes the pidfd through the init's
	// pidfd.
	struct sb_clone_args args = {
		.flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
		.stack = (uint64_t)(uintptr_t)stack,
		.stack_size = STACK_SIZE,
	};
	long pid = raw_clone3(&args, program_main, cfg);
	if (pid < 0)
		sb_die(cfg, i, pid);
	// The program has exec'd, or failed (and said so) and exited.
	if (cfg->failed)
		SYS1(SYS_exit_group, 127);
	init_main(cfg, pid, pidfd, is_traced);
}

