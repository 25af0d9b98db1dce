// The zygote: a small process, started once per supervisor process, that
// forks a child for each launch.
//
// The supervisor is a Go program, whose address space may be large and
// whose runtime must not be forked. The zygote is the same executable,
// exec'd with SB_ZYGOTE_ENV set: the constructor below takes over before
// the Go runtime starts, so the zygote is a few pages of C. A fork of it
// is cheap whatever the caller's heap, and the child it makes (and the
// sandbox's init) shares no memory with the caller.
//
// It reads requests (struct sb_request, the block, the fds) from its
// socket, one at a time, forks a child for each with CLONE_PARENT (the
// child is the supervisor's, which waits for it and writes its id maps),
// and answers with its pid. It exits when the supervisor's end closes.

#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"
#include "raw.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

// SCM_MAX_FD: the most fds one message carries.
#define MAX_FDS 253

long sb_page_size = 4096;

struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		long r = SYS3(SYS_read, fd, p, n);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

// prepare relocates the block and gives it the fds it names by index.
static long prepare(const struct sb_request *rq, const uint32_t *relocs, char *blk, const int *fds, int nfds)
{
	if (rq->size < sizeof(struct sb_config) || nfds < 2)
		return -EINVAL;
	for (uint32_t i = 0; i < rq->nrelocs; i++) {
		if (relocs[i] > rq->size - 8 || relocs[i] % 8)
			return -EINVAL;
		uint64_t *p = (uint64_t *)(blk + relocs[i]);
		if (*p >= rq->size)
			return -EINVAL;
		*p += (uint64_t)(uintptr_t)blk;
	}
	struct sb_config *cfg = (struct sb_config *)blk;
	cfg->sync_fd = fds[0];
	cfg->err_fd = fds[1];
	cfg->listener = -1;
	for (int i = 0; i < cfg->nsteps; i++) {
		struct sb_step *s = &cfg->steps[i];
		if (s->code != SB_FDS && s->code != SB_SLOT_FD)
			continue;
		int32_t *src = (int32_t *)(uintptr_t)s->a[0];
		uint64_t n = s->code == SB_FDS ? s->a[1] : 1; // SB_SLOT_FD: one fd
		for (uint64_t j = 0; j < n; j++) {
			if (src[j] < 0 || src[j] >= nfds)
				return -EINVAL;
			src[j] = fds[src[j]];
		}
	}
	return 0;
}

// spawn forks the child of one request: into its cgroup v2 directory where
// the kernel can (clone3), else as it is, for the supervisor to move. With
// CLONE_PARENT the child's exit signal is the zygote's own, SIGCHLD (clone3
// takes none with it).
static void spawn(int sock, const struct sb_request *rq, char *blk, const int *fds, int nfds, struct sb_reply *out)
{
	uint64_t flags = rq->clone_flags | CLONE_PARENT;
	long pid = -ENOSYS;
	if (rq->cgroup >= 0 && rq->cgroup < nfds) {
		struct clone_args_v2 a = {.flags = flags | CLONE_INTO_CGROUP, .cgroup = (uint64_t)fds[rq->cgroup]};
		pid = SYS2(SYS_clone3, &a, sizeof a);
		out->in_cgroup = pid > 0;
	}
	if (pid == -ENOSYS || pid == -E2BIG) {
		struct clone_args_v2 a = {.flags = flags};
		pid = SYS2(SYS_clone3, &a, sizeof a);
	}
	if (pid == 0) {
		// The child: a fork, with its own copy of everything here.
		SYS1(SYS_close, sock);
		sb_child((struct sb_config *)blk);
	}
	out->pid = pid;
}

// recv_request reads one request from sock: its header into rq, its
// relocations and block into *buf (grown as needed, *cap its size), its
// fds into fds. It returns the block's offset in *buf, 0 when sock closed
// or failed, or -1 when the request is out of step.
static long recv_request(int sock, struct sb_request *rq, char **buf, size_t *cap, int *fds, int *nfds)
{
	union {
		char b[CMSG_SPACE(MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = rq, .iov_len = sizeof *rq};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
	long n;
	do
		n = SYS3(SYS_recvmsg, sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n == -EINTR);
	if (n <= 0)
		return 0;
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k && *nfds < MAX_FDS; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	size_t rel = ((size_t)rq->nrelocs * 4 + 7) & ~(size_t)7;
	size_t need = rel + rq->size;
	if (n != sizeof *rq || need > (64u << 20))
		return -1;
	if (need > *cap) {
		if (*buf)
			SYS2(SYS_munmap, *buf, *cap);
		*cap = (need + 0xffff) & ~(size_t)0xffff;
		*buf = (char *)SYS6(SYS_mmap, 0, *cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if ((long)*buf < 0 && (long)*buf > -4096) {
			*buf = NULL;
			*cap = 0;
			return -1;
		}
	}
	if (read_full(sock, *buf, need) < 0)
		return 0;
	return (long)rel;
}

static void __attribute__((noreturn)) zygote(int sock)
{
	// Every signal blocked: none stops or kills the zygote but SIGKILL,
	// and its children start with all of them blocked, as they must
	// until their steps have reset what they inherit.
	uint64_t all = ~0ULL, dfl[4] = {0, 0, 0, 0};
	SYS4(SYS_rt_sigprocmask, SIG_SETMASK, &all, 0, 8);
	for (long sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			SYS4(SYS_rt_sigaction, sig, dfl, 0, 8);
	// The caller's nice and oom_score_adj are not the sandbox's.
	sb_reset_priority();
	long ps = sysconf(_SC_PAGESIZE);
	if (ps > 0)
		sb_page_size = ps;
	char *buf = NULL;
	size_t cap = 0;
	for (;;) {
		struct sb_request rq;
		int fds[MAX_FDS], nfds = 0;
		long rel = recv_request(sock, &rq, &buf, &cap, fds, &nfds);
		if (rel == 0)
			SYS1(SYS_exit_group, 0); // the supervisor is gone
		struct sb_reply out = {.pid = -EPROTO};
		if (rel < 0) {
			// Out of step with the supervisor: say so and end; it
			// starts another zygote.
			SYS3(SYS_write, sock, &out, sizeof out);
			SYS1(SYS_exit_group, 1);
		}
		out.pid = prepare(&rq, (uint32_t *)buf, buf + rel, fds, nfds);
		if (out.pid == 0)
			spawn(sock, &rq, buf + rel, fds, nfds, &out);
		for (int i = 0; i < nfds; i++)
			SYS1(SYS_close, fds[i]);
		if (SYS3(SYS_write, sock, &out, sizeof out) != sizeof out)
			SYS1(SYS_exit_group, 0);
	}
}

// sb_park is SB_PARK: a prepared child, its namespaces and root made,
// waits here for the rest of its launch. The supervisor sends it on err_fd
// as a request of its own (a block of the remaining steps; new sync and
// err fds and the fds of its steps; no clone flags), and the child runs
// that block. A closed err_fd (the supervisor gone, or the pool closed)
// ends it.
void sb_park(struct sb_config *cfg)
{
	sb_ready_init();
	struct sb_record parked = {.step = SB_PARKED};
	if (SYS3(SYS_write, cfg->err_fd, &parked, sizeof parked) != sizeof parked)
		SYS1(SYS_exit_group, 127);
	struct sb_request rq;
	char *buf = NULL;
	size_t cap = 0;
	int fds[MAX_FDS], nfds = 0;
	long rel = recv_request(cfg->err_fd, &rq, &buf, &cap, fds, &nfds);
	if (rel <= 0)
		SYS1(SYS_exit_group, 127);
	long r = prepare(&rq, (uint32_t *)buf, buf + rel, fds, nfds);
	if (r < 0) {
		struct sb_record f = {.step = SB_PARKED, .err = (int32_t)-r};
		SYS3(SYS_write, nfds > 1 ? fds[1] : cfg->err_fd, &f, sizeof f);
		SYS1(SYS_exit_group, 127);
	}
	SYS1(SYS_close, cfg->sync_fd);
	SYS1(SYS_close, cfg->err_fd);
	sb_run_steps((struct sb_config *)(buf + rel), 0);
}

// sb_zygote_hook runs before the Go runtime in every process of this
// executable; only one started as the zygote stays in C.
__attribute__((constructor)) static void sb_zygote_hook(void)
{
	const char *v = getenv(SB_ZYGOTE_ENV);
	if (v == NULL)
		return;
	int sock = atoi(v);
	if (sock < 3)
		_exit(2);
	zygote(sock);
}
