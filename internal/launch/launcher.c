// The launcher's child side.
//
// The zygote (zygote.c) forks a child per launch; the child interprets the
// steps of its block (struct sb_config) with raw system calls, from the
// new namespaces to execve, and reports a failure as (step, errno) on a
// pipe. It is a fork of the zygote, a small process that never ran the Go
// runtime: it shares nothing with the caller's address space, so a kill of
// it (an OOM kill in the sandbox's cgroup, say) can never reach the caller.
//
// With SB_INIT, the child forks the program at that step and stays as its
// init, the pid 1 of the sandbox: it forwards the signals it gets to the
// program, reaps orphans, and when the program ends reports its exact wait
// status and exits, which ends the pid namespace.

#define _GNU_SOURCE
#include <elf.h>
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
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"
#include "raw.h"


#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif


#define P(x) ((const char *)(uintptr_t)(x))

// die reports a failed step and ends the child in bounded time, even
// under a filter that denies exit_group and exit: a spin there would hold
// a CPU and the supervisor's Start for ever.
void sb_die(struct sb_config *cfg, int step, long err)
{
	struct sb_record f = {.step = step, .err = (int32_t)-err};
	cfg->failed = 1; // for the init, if this is the program
	SYS3(SYS_write, cfg->err_fd, &f, sizeof f);
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
	long fd = sb_create(path, mode, 0);
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
static long set_fds(struct sb_config *cfg, int32_t *src, long n)
{
	long r;
	// Everything out of 0..n+1 first, so that no dup3 below overwrites a
	// fd that a later one still needs.
	for (long i = 0; i < n; i++) {
		if ((r = SYS3(SYS_fcntl, src[i], F_DUPFD_CLOEXEC, n + 2)) < 0)
			return r;
		src[i] = (int32_t)r;
	}
	if ((r = SYS3(SYS_fcntl, cfg->err_fd, F_DUPFD_CLOEXEC, n + 2)) < 0)
		return r;
	cfg->err_fd = (int32_t)r;
	if ((r = SYS3(SYS_fcntl, cfg->sync_fd, F_DUPFD_CLOEXEC, n + 2)) < 0)
		return r;
	cfg->sync_fd = (int32_t)r;
	for (long i = 0; i < n; i++)
		if ((r = SYS3(SYS_dup3, src[i], i, 0)) < 0)
			return r;
	if ((r = SYS3(SYS_dup3, cfg->err_fd, n, O_CLOEXEC)) < 0 ||
	    (r = SYS3(SYS_dup3, cfg->sync_fd, n + 1, O_CLOEXEC)) < 0)
		return r;
	cfg->err_fd = (int32_t)n;
	cfg->sync_fd = (int32_t)(n + 1);
	// Only the passed fds survive: an inherited fd of the host (a
	// directory, a socket) is a way out (runc CVE-2024-21626). Closed,
	// not just close-on-exec, so that they take no fd numbers either.
	return SYS3(SYS_close_range, n + 2, ~0U, 0);
}

// reset_sched gives the process the default scheduling policy
// (SCHED_OTHER: only ever a lowering) and every CPU of its cpuset, where a
// caller's narrower affinity would otherwise hold. Nice and oom_score_adj
// are the zygote's, reset when it started (sb_reset_priority).
static long reset_sched(void)
{
	struct {
		int prio;
	} param = {0};
	long r = SYS3(SYS_sched_setscheduler, 0, SCHED_OTHER, &param);
	if (r < 0)
		return r;
	uint64_t all[16];
	for (int i = 0; i < 16; i++)
		all[i] = ~0ULL;
	return SYS3(SYS_sched_setaffinity, 0, sizeof all, all);
}

void sb_reset_priority(void)
{
	// Each only where allowed: unprivileged, a positive nice or
	// oom_score_adj (which only lower the sandbox's standing) stays.
	SYS3(SYS_setpriority, PRIO_PROCESS, 0, 0);
	long fd = SYS4(SYS_openat, AT_FDCWD, "/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd >= 0) {
		SYS3(SYS_write, fd, "0", 1);
		SYS1(SYS_close, fd);
	}
}

static long run_step(struct sb_config *cfg, const struct sb_step *s)
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
		return sb_mount(P(a[0]), P(a[1]), P(a[2]), a[3], P(a[4]));
	case SB_OPEN_TREE: {
		// A symlink as the last component is not followed: the
		// source may lie where an earlier program could write.
		unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW | (a[1] ? AT_RECURSIVE : 0);
		long fd = SYS3(SYS_open_tree, AT_FDCWD, P(a[0]), flags);
		if (fd < 0)
			return fd;
		cfg->slots[a[2]] = (int32_t)fd;
		return setattr(fd, "", AT_EMPTY_PATH | (a[1] ? AT_RECURSIVE : 0), a[3], a[4]);
	}
	case SB_MOVE_MOUNT: {
		int fd = cfg->slots[a[0]];
		r = sb_move_mount(fd, P(a[1]));
		SYS1(SYS_close, fd);
		return r;
	}
	case SB_SETATTR: {
		long fd = sb_open(P(a[0]), O_PATH | O_NOFOLLOW, 0);
		if (fd < 0)
			return fd;
		r = setattr(fd, "", AT_EMPTY_PATH | (a[1] ? AT_RECURSIVE : 0), a[2], a[3]);
		SYS1(SYS_close, fd);
		return r;
	}
	case SB_MKDIR:
		r = sb_mkdir(P(a[0]), a[1]);
		return (r == -EEXIST && (s->flags & SB_EXIST_OK)) ? 0 : r;
	case SB_CREATE:
		// A mount point: one there already is fine if it is a file.
		r = sb_create(P(a[0]), a[1], 1);
		return r <= 0 ? r : SYS1(SYS_close, r);
	case SB_SYMLINK:
		return sb_symlink(P(a[0]), P(a[1]));
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
		return sb_chdir(P(a[0]));
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
		// end of the report socket is then closed, which poll reports.
		struct pollfd p = {.fd = cfg->err_fd, .events = 0};
		r = SYS3(SYS_poll, &p, 1, 0);
		if (r < 0)
			return r;
		return (p.revents & (POLLERR | POLLHUP)) ? -ESRCH : 0;
	}
	case SB_SETRLIMIT: {
		struct {
			uint64_t cur, max;
		} rl = {a[1], a[2]};
		return SYS4(SYS_prlimit64, 0, a[0], &rl, 0);
	}
	case SB_FDS:
		return set_fds(cfg, (int32_t *)(uintptr_t)a[0], (long)a[1]);
	case SB_UNBLOCK_SIGNALS: {
		uint64_t none = 0;
		return SYS4(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
	}
	case SB_SECCOMP: {
		// The profile's flags (a2). With a listener: once the
		// supervisor has a call's notification, a signal must not cut
		// the call short (EINTR where the profile says EPERM, or a
		// failed fork while learning): wait killably (5.19+), which
		// needs a listener.
		uint64_t flags = a[2] & ~(uint64_t)SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
		if (a[1])
			flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
		long fd = SYS3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, (void *)(uintptr_t)a[0]);
		// An older kernel lacks some: none of these changes a verdict.
		const uint64_t optional[] = {SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
					     SECCOMP_FILTER_FLAG_LOG};
		for (int i = 0; fd == -EINVAL && i < 3; i++) {
			if (flags & optional[i]) {
				flags &= ~optional[i];
				fd = SYS3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, (void *)(uintptr_t)a[0]);
			}
		}
		if (fd < 0)
			return fd;
		if (!a[1])
			return 0;
		if (cfg->resume > 0) {
			// Under an init (non-dumpable, so that nothing takes an
			// fd from it): the init keeps the listener in its fd
			// table, which the program leaves at its exec, and sends
			// it with SB_STARTED.
			cfg->listener = (int32_t)fd;
			return 0;
		}
		// The listener is close-on-exec: the parent takes it now, and
		// the program never has it (it could answer for itself).
		struct sb_record n = {.step = SB_LISTENER, .err = (int32_t)fd};
		char b;
		if ((r = SYS3(SYS_write, cfg->err_fd, &n, sizeof n)) < 0)
			return r;
		// Left open: it is close-on-exec, and a close here would be
		// one more call the profile must allow before the exec.
		if ((r = SYS3(SYS_read, cfg->sync_fd, &b, 1)) != 1)
			return r < 0 ? r : -EPIPE;
		return 0;
	}
	case SB_UNSHARE:
		return SYS1(SYS_unshare, a[0]);
	case SB_TRACEE:
		return sb_tracee(cfg);
	case SB_UMASK:
		SYS1(SYS_umask, a[0]);
		return 0;
	case SB_NEW_KEYRING:
		// KEYCTL_JOIN_SESSION_KEYRING with no name: a new anonymous
		// session keyring, so nothing of the caller's session
		// keyring (its keys, and other runs') is reachable.
		r = SYS2(SYS_keyctl, 1, 0);
		return r < 0 ? r : 0;
	case SB_RESET_SCHED:
		return reset_sched();
	case SB_SLOT_FD:
		cfg->slots[a[1]] = ((const int32_t *)(uintptr_t)a[0])[0];
		return 0;
	case SB_EXEC_STATIC:
		return sb_exec_static((const uint64_t *)(uintptr_t)a[0],
				   (const char *const *)(uintptr_t)a[1],
				   (const char *const *)(uintptr_t)a[2]);
	case SB_EXEC:
		return sb_exec_first((const uint64_t *)(uintptr_t)a[0],
				  (const char *const *)(uintptr_t)a[1],
				  (const char *const *)(uintptr_t)a[2]);
	}
	return -EINVAL;
}

void sb_run_steps(struct sb_config *cfg, int from)
{
	for (int i = from; i < cfg->nsteps; i++) {
		const struct sb_step *s = &cfg->steps[i];
		if (s->code == SB_INIT)
			sb_start_init(cfg, i);
		if (s->code == SB_PARK)
			sb_park(cfg);
		long r = run_step(cfg, s);
		if (r == -ENOENT && (s->flags & SB_OPTIONAL))
			continue;
		if (r < 0)
			sb_die(cfg, i, r);
	}
	sb_die(cfg, cfg->nsteps, -EINVAL); // the last step must be an exec
}

void sb_child(struct sb_config *cfg)
{
	char b;
	// Wait for the supervisor to write the id maps (and move us into
	// our cgroup). EOF means it is gone.
	if (SYS3(SYS_read, cfg->sync_fd, &b, 1) != 1)
		SYS1(SYS_exit_group, 127);
	sb_run_steps(cfg, 0);
}
