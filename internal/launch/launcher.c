// The launcher's child side.
//
// sb_clone starts a child with clone(CLONE_VM): the child runs on its own
// small stack inside the parent's address space until it calls execve. That
// keeps the launch cost flat in the size of the caller's heap (a fork would
// copy its page tables), but it puts the child under the rules of vfork
// children and more: it shares the parent's memory while the parent keeps
// running. So the child:
//   - makes only raw system calls (no libc: errno and every other libc state
//     live in the parent thread's TLS, which the child shares),
//   - writes no memory but its own stack, its own sb_config and the slots,
//   - starts with every signal blocked and resets every handler before it
//     unblocks them (the Go runtime's handlers must never run on this stack),
//   - reports a failure as (step, errno) on a pipe and exits.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

#define STACK_SIZE (64 * 1024)
#define PAGE 4096

#if defined(__x86_64__)
static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}
#else
#error "the launcher supports amd64 and arm64"
#endif

#define SYS0(n) raw6((n), 0, 0, 0, 0, 0, 0)
#define SYS1(n, a) raw6((n), (long)(a), 0, 0, 0, 0, 0)
#define SYS2(n, a, b) raw6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define SYS3(n, a, b, c) raw6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS4(n, a, b, c, d) raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SYS5(n, a, b, c, d, e) raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

#define P(x) ((const char *)(uintptr_t)(x))

// die reports a failed step and ends the child in bounded time, even
// under a filter that denies exit_group and exit: a spin there would hold
// a CPU and the supervisor's Start for ever.
static void __attribute__((noreturn)) die(int err_fd, int step, long err)
{
	struct sb_failure f = {.step = step, .err = (int32_t)-err};
	SYS3(SYS_write, err_fd, &f, sizeof f);
	SYS1(SYS_exit_group, 127);
	SYS1(SYS_exit, 127); // the only thread: the process ends
	// A fault is no system call, so no filter can refuse it, and the
	// kernel's forced SIGILL kills even the init of a pid namespace.
	__builtin_trap();
}

static long setattr(int dfd, const char *path, unsigned flags, uint64_t set, uint64_t clr)
{
	struct mount_attr attr = {.attr_set = set, .attr_clr = clr};
	return raw6(SYS_mount_setattr, dfd, (long)path, flags, (long)&attr, sizeof attr, 0);
}

static long write_file(const char *path, const char *data, long len, long mode)
{
	long fd = SYS4(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return fd;
	while (len > 0) {
		long n = SYS3(SYS_write, fd, data, len);
		if (n < 0) {
			SYS1(SYS_close, fd);
			return n;
		}
		data += n;
		len -= n;
	}
	return SYS1(SYS_close, fd);
}

static long loopback_up(void)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	long fd = SYS3(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long r = SYS3(SYS_ioctl, fd, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = SYS3(SYS_ioctl, fd, SIOCSIFFLAGS, &ifr);
	}
	SYS1(SYS_close, fd);
	return r;
}

static long clear_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};
	long r = raw6(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0);
	if (r < 0)
		return r;
	return SYS2(SYS_capset, &hdr, data);
}

// set_fds makes src[i] the child's fd i for every i < n, the error pipe fd
// n and the sync pipe fd n+1 (both close-on-exec), and closes every other
// fd. Fixed numbers let a learning filter allow the launcher's own last
// calls on exactly those fds; the next fd made (a seccomp listener) is n+2.
static long set_fds(struct sb_config *cfg, int32_t *src, long n, int *err_fd)
{
	long r;
	// Everything out of 0..n+1 first, so that no dup3 below overwrites a
	// fd that a later one still needs.
	for (long i = 0; i < n; i++) {
		if ((r = SYS3(SYS_fcntl, src[i], F_DUPFD_CLOEXEC, n + 2)) < 0)
			return r;
		src[i] = (int32_t)r;
	}
	if ((r = SYS3(SYS_fcntl, *err_fd, F_DUPFD_CLOEXEC, n + 2)) < 0)
		return r;
	*err_fd = (int)r;
	if ((r = SYS3(SYS_fcntl, cfg->sync_fd, F_DUPFD_CLOEXEC, n + 2)) < 0)
		return r;
	cfg->sync_fd = (int32_t)r;
	for (long i = 0; i < n; i++)
		if ((r = SYS3(SYS_dup3, src[i], i, 0)) < 0)
			return r;
	if ((r = SYS3(SYS_dup3, *err_fd, n, O_CLOEXEC)) < 0 ||
	    (r = SYS3(SYS_dup3, cfg->sync_fd, n + 1, O_CLOEXEC)) < 0)
		return r;
	*err_fd = (int)n;
	cfg->sync_fd = (int32_t)(n + 1);
	// Only the passed fds survive: an inherited fd of the host (a
	// directory, a socket) is a way out (runc CVE-2024-21626). Closed,
	// not just close-on-exec, so that they take no fd numbers either.
	return SYS3(SYS_close_range, n + 2, ~0U, 0);
}

static long exec_first(const uint64_t *cands, const char *const *argv, const char *const *envp)
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
#define NATIVE_EM 62 // EM_X86_64
#elif defined(__aarch64__)
#define NATIVE_EM 183 // EM_AARCH64
#endif

static uint16_t le16(const unsigned char *b) { return (uint16_t)(b[0] | b[1] << 8); }

static uint64_t le64(const unsigned char *b)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

// check_static reads the ELF header and program headers of fd: a static
// executable of the native arch, with no PT_INTERP, or an SB_E* error.
static long check_static(int fd)
{
	unsigned char eh[64], ph[64];
	long n = SYS4(SYS_pread64, fd, eh, sizeof eh, 0);
	if (n < 0)
		return n;
	if (n >= 2 && eh[0] == '#' && eh[1] == '!')
		return -SB_ESCRIPT;
	if (n < 64 || eh[0] != 0x7f || eh[1] != 'E' || eh[2] != 'L' || eh[3] != 'F')
		return -SB_ENOTELF;
	if (eh[4] != 2 /* ELFCLASS64 */ || eh[5] != 1 /* little endian */ || le16(eh + 18) != NATIVE_EM)
		return -SB_EARCH;
	if (le16(eh + 16) != 2 /* ET_EXEC */ && le16(eh + 16) != 3 /* ET_DYN: static-pie */)
		return -SB_ENOTELF;
	uint64_t phoff = le64(eh + 32);
	uint16_t phentsize = le16(eh + 54), phnum = le16(eh + 56);
	if (phentsize < 4 || phentsize > sizeof ph)
		return -SB_ENOTELF;
	for (uint16_t i = 0; i < phnum; i++) {
		n = SYS4(SYS_pread64, fd, ph, phentsize, phoff + (uint64_t)i * phentsize);
		if (n != phentsize)
			return n < 0 ? n : -SB_ENOTELF;
		if (ph[0] == 3 && ph[1] == 0 && ph[2] == 0 && ph[3] == 0) // PT_INTERP
			return -SB_EDYNAMIC;
	}
	return 0;
}

// exec_static is exec_first for static guests: each candidate is opened,
// checked, and executed through the same fd, so the file checked is the
// file run.
static long exec_static(const uint64_t *cands, const char *const *argv, const char *const *envp)
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

static long run_step(struct sb_config *cfg, const struct sb_step *s, int *err_fd)
{
	const uint64_t *a = s->a;
	long r;
	switch (s->code) {
	case SB_SETSID:
		return SYS0(SYS_setsid);
	case SB_SETGROUPS: {
		uint32_t gid = (uint32_t)a[1];
		return SYS2(SYS_setgroups, a[0], &gid);
	}
	case SB_SETRESGID:
		return SYS3(SYS_setresgid, a[0], a[0], a[0]);
	case SB_SETRESUID:
		return SYS3(SYS_setresuid, a[0], a[0], a[0]);
	case SB_MOUNT:
		return SYS5(SYS_mount, P(a[0]), P(a[1]), P(a[2]), a[3], P(a[4]));
	case SB_OPEN_TREE: {
		unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (a[1] ? AT_RECURSIVE : 0);
		long fd = SYS3(SYS_open_tree, AT_FDCWD, P(a[0]), flags);
		if (fd < 0)
			return fd;
		cfg->slots[a[2]] = (int32_t)fd;
		return setattr(fd, "", AT_EMPTY_PATH | (a[1] ? AT_RECURSIVE : 0), a[3], a[4]);
	}
	case SB_MOVE_MOUNT: {
		int fd = cfg->slots[a[0]];
		r = raw6(SYS_move_mount, fd, (long)"", AT_FDCWD, (long)P(a[1]), MOVE_MOUNT_F_EMPTY_PATH, 0);
		SYS1(SYS_close, fd);
		return r;
	}
	case SB_SETATTR:
		return setattr(AT_FDCWD, P(a[0]), a[1] ? AT_RECURSIVE : 0, a[2], a[3]);
	case SB_MKDIR:
		r = SYS3(SYS_mkdirat, AT_FDCWD, P(a[0]), a[1]);
		return (r == -EEXIST && (s->flags & SB_EXIST_OK)) ? 0 : r;
	case SB_CREATE:
		r = SYS4(SYS_openat, AT_FDCWD, P(a[0]), O_WRONLY | O_CREAT | O_CLOEXEC, a[1]);
		return r < 0 ? r : SYS1(SYS_close, r);
	case SB_SYMLINK:
		return SYS3(SYS_symlinkat, P(a[0]), AT_FDCWD, P(a[1]));
	case SB_WRITE_FILE:
		return write_file(P(a[0]), P(a[1]), (long)a[2], (long)a[3]);
	case SB_PIVOT_ROOT:
		// pivot_root(".", ".") stacks the old root on the new one;
		// detaching it leaves nothing of the host reachable.
		if ((r = SYS1(SYS_chdir, P(a[0]))) < 0)
			return r;
		if ((r = SYS2(SYS_pivot_root, ".", ".")) < 0)
			return r;
		if ((r = SYS2(SYS_umount2, ".", MNT_DETACH)) < 0)
			return r;
		return SYS1(SYS_chdir, "/");
	case SB_CHDIR:
		return SYS1(SYS_chdir, P(a[0]));
	case SB_SETHOSTNAME:
		return SYS2(SYS_sethostname, P(a[0]), a[1]);
	case SB_LOOPBACK_UP:
		return loopback_up();
	case SB_CAPBSET_DROP:
		for (long c = 0; c <= (long)a[0]; c++) {
			r = SYS2(SYS_prctl, PR_CAPBSET_DROP, c);
			if (r < 0 && r != -EINVAL)
				return r;
		}
		return 0;
	case SB_SECUREBITS:
		return SYS2(SYS_prctl, PR_SET_SECUREBITS, a[0]);
	case SB_CLEAR_CAPS:
		return clear_caps();
	case SB_NO_NEW_PRIVS:
		return raw6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
	case SB_PDEATHSIG: {
		if ((r = SYS2(SYS_prctl, PR_SET_PDEATHSIG, a[0])) < 0)
			return r;
		// The parent may have died before the signal was armed: its
		// end of the error pipe is then closed, which poll reports.
		struct pollfd p = {.fd = *err_fd, .events = 0};
		r = SYS3(SYS_poll, &p, 1, 0);
		if (r < 0)
			return r;
		return (p.revents & POLLERR) ? -ESRCH : 0;
	}
	case SB_SETRLIMIT: {
		struct {
			uint64_t cur, max;
		} rl = {a[1], a[2]};
		return SYS4(SYS_prlimit64, 0, a[0], &rl, 0);
	}
	case SB_FDS:
		return set_fds(cfg, (int32_t *)(uintptr_t)a[0], (long)a[1], err_fd);
	case SB_UNBLOCK_SIGNALS: {
		uint64_t none = 0;
		return SYS4(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
	}
	case SB_SECCOMP: {
		if (!a[1])
			return SYS3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (void *)(uintptr_t)a[0]);
		// Once the supervisor has a call's notification, a signal must
		// not cut the call short (EINTR where the profile says EPERM,
		// or a failed fork while learning): wait killably (5.19+).
		long fd = SYS3(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			       SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
			       (void *)(uintptr_t)a[0]);
		if (fd == -EINVAL) // an older kernel
			fd = SYS3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
				  (void *)(uintptr_t)a[0]);
		if (fd < 0)
			return fd;
		// The listener is close-on-exec: the parent takes it now, and
		// the program never has it (it could answer for itself).
		struct sb_failure n = {.step = SB_LISTENER, .err = (int32_t)fd};
		char b;
		if ((r = SYS3(SYS_write, *err_fd, &n, sizeof n)) < 0)
			return r;
		// Left open: it is close-on-exec, and a close here would be
		// one more call the profile must allow before the exec.
		if ((r = SYS3(SYS_read, cfg->sync_fd, &b, 1)) != 1)
			return r < 0 ? r : -EPIPE;
		return 0;
	}
	case SB_UNSHARE:
		return SYS1(SYS_unshare, a[0]);
	case SB_TRACEME:
		return SYS4(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
	case SB_EXEC_STATIC:
		return exec_static((const uint64_t *)(uintptr_t)a[0],
				   (const char *const *)(uintptr_t)a[1],
				   (const char *const *)(uintptr_t)a[2]);
	case SB_EXEC:
		return exec_first((const uint64_t *)(uintptr_t)a[0],
				  (const char *const *)(uintptr_t)a[1],
				  (const char *const *)(uintptr_t)a[2]);
	}
	return -EINVAL;
}

static int child_main(void *arg)
{
	struct sb_config *cfg = arg;
	int err_fd = cfg->err_fd;
	char b;

	// Every handler back to the default while all signals are still
	// blocked: the inherited handlers are the Go runtime's, and they
	// must never run on this thread.
	uint64_t dfl[4] = {0, 0, 0, 0};
	for (long sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			SYS4(SYS_rt_sigaction, sig, dfl, 0, 8);

	SYS1(SYS_close, cfg->sync_peer);
	SYS1(SYS_close, cfg->err_peer);
	// Wait for the parent to write the id maps. EOF means it is gone.
	// The pipe stays open (close-on-exec) for a listener's hand-over.
	if (SYS3(SYS_read, cfg->sync_fd, &b, 1) != 1)
		SYS1(SYS_exit_group, 127);

	for (int i = 0; i < cfg->nsteps; i++) {
		const struct sb_step *s = &cfg->steps[i];
		long r = run_step(cfg, s, &err_fd);
		if (r == -ENOENT && (s->flags & SB_OPTIONAL))
			continue;
		if (r < 0)
			die(err_fd, i, r);
	}
	die(err_fd, cfg->nsteps, -EINVAL); // the last step must be an exec
}

static char *new_stack(long *err)
{
	char *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	// A guard page: a runaway child stack faults instead of writing over
	// the parent's memory.
	if (mprotect(stack, PAGE, PROT_NONE) < 0) {
		*err = -errno;
		munmap(stack, STACK_SIZE);
		return NULL;
	}
	return stack;
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

struct sb_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

// raw_clone3 makes the child with clone3. The child starts on its new stack
// with no frame to return to: the trampoline calls fn(arg) from registers
// the kernel preserves, then exit_group with its result.
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

long sb_clone3(struct sb_config *cfg, unsigned long flags, int cgroup_fd, int *pidfd, void **stackp)
{
	uint64_t all = ~0ULL, old;
	long err = 0;
	char *stack = new_stack(&err);
	if (!stack)
		return err;
	struct sb_clone_args args = {
		.flags = flags | CLONE_VM | CLONE_PIDFD | CLONE_INTO_CGROUP,
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
		.stack = (uint64_t)(uintptr_t)stack,
		.stack_size = STACK_SIZE,
		.cgroup = (uint64_t)cgroup_fd,
	};
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
	long pid = raw_clone3(&args, child_main, cfg);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
	if (pid < 0) {
		munmap(stack, STACK_SIZE);
		return pid;
	}
	*stackp = stack;
	return pid;
}

long sb_clone(struct sb_config *cfg, unsigned long flags, int *pidfd, void **stackp)
{
	uint64_t all = ~0ULL, old;
	long err = 0;
	char *stack = new_stack(&err);
	if (!stack)
		return err;
	// Block everything, even the signals glibc keeps for itself, so that
	// the child starts with no signal deliverable.
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
	long pid = clone(child_main, stack + STACK_SIZE,
			 (int)(flags | CLONE_VM | CLONE_PIDFD | SIGCHLD), cfg, pidfd);
	long e = -errno;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
	if (pid < 0) {
		munmap(stack, STACK_SIZE);
		return e;
	}
	*stackp = stack;
	return pid;
}

void sb_release_stack(void *stack)
{
	munmap(stack, STACK_SIZE);
}
