// probe runs system calls for the tests and prints what they returned.
//
//   probe sys NAME...       each call with harmless arguments: "NAME errno"
//   probe int80 NAME...     the i386 twin through int 0x80 (amd64 only)
//   probe x32 NAME...       the x32 twin (amd64 only)
//   probe fds               the open fds, one per line
//   probe connect PORT      connect to 127.0.0.1:PORT: "connect errno"
//   probe chown FILE        chown(2) FILE to the caller: "chown errno"
//   probe env               the environment, one variable per line
//   probe ids               "uid euid gid egid"
//   probe tiocsti           push a byte into fd 0's terminal: "tiocsti errno"
//   probe thread-mount      call mount from a second thread, then sleep
//   probe abort             abort()
//   probe raise SIG         raise(SIG), SIG a number; then say "survived"
//   probe segv              a NULL dereference
//   probe attach PID        ptrace(PTRACE_ATTACH, PID): "attach errno"
//   probe state             "umask nice policy cpus oom_score_adj core-soft key-errno"
//   probe tty               TIOCSTI, TIOCSTI with high bits, TIOCLINUX on fd 0: "name errno" each
//   probe vsock             socket(AF_VSOCK): "vsock errno"
//   probe nr N...           each syscall by number, with zero arguments: "N errno"
//   probe flood N           N denied calls (mount, with NULL arguments): "flood errno-of-last"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

static long call(const char *name)
{
	if (!strcmp(name, "mount"))
		return syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
	if (!strcmp(name, "umount2"))
		return syscall(SYS_umount2, "/tmp", 0);
	if (!strcmp(name, "unshare"))
		return syscall(SYS_unshare, CLONE_NEWUTS);
	if (!strcmp(name, "setns"))
		return syscall(SYS_setns, 0, 0);
	if (!strcmp(name, "keyctl"))
		return syscall(SYS_keyctl, 0, -1, 0);
	if (!strcmp(name, "add_key"))
		return syscall(SYS_add_key, "user", "x", "x", 1, -2);
	if (!strcmp(name, "bpf"))
		return syscall(SYS_bpf, 0, NULL, 0);
	if (!strcmp(name, "perf_event_open"))
		return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
	if (!strcmp(name, "open_by_handle_at"))
		return syscall(SYS_open_by_handle_at, -1, NULL, 0);
	if (!strcmp(name, "io_uring_setup"))
		return syscall(SYS_io_uring_setup, 1, NULL);
	if (!strcmp(name, "userfaultfd"))
		return syscall(SYS_userfaultfd, 0);
	if (!strcmp(name, "acct"))
		return syscall(SYS_acct, NULL);
	if (!strcmp(name, "swapon"))
		return syscall(SYS_swapon, "/nonexistent", 0);
	if (!strcmp(name, "reboot"))
		return syscall(SYS_reboot, 0xfee1dead, 672274793, 0, NULL);
	if (!strcmp(name, "settimeofday"))
		return syscall(SYS_settimeofday, NULL, NULL);
	if (!strcmp(name, "kexec_load"))
		return syscall(SYS_kexec_load, 0, 0, NULL, 0);
	if (!strcmp(name, "clone3"))
		return syscall(SYS_clone3, NULL, 0);
	if (!strcmp(name, "clone_newuser")) {
		long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (r == 0)
			_exit(0);
		return r;
	}
	if (!strcmp(name, "getpid"))
		return syscall(SYS_getpid) > 0 ? 0 : -1;
	if (!strcmp(name, "mkdir"))
		return syscall(SYS_mkdir, "/tmp/probe-dir", 0755);
	fprintf(stderr, "probe: unknown call %s\n", name);
	exit(2);
}

#if defined(__x86_64__)
// i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl).
static long int80(const char *name)
{
	long nr, ret;
	if (!strcmp(name, "mount"))
		nr = 21;
	else if (!strcmp(name, "getpid"))
		nr = 20;
	else if (!strcmp(name, "unshare"))
		nr = 310;
	else {
		fprintf(stderr, "probe: no i386 number for %s\n", name);
		exit(2);
	}
	// Harmless arguments: NULL pointers (mount fails with EFAULT if it
	// gets as far as the kernel).
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(0), "c"(0), "d"(0) : "memory");
	return ret;
}

static long x32(const char *name)
{
	long nr;
	if (!strcmp(name, "mount"))
		nr = 165;
	else if (!strcmp(name, "getpid"))
		nr = 39;
	else if (!strcmp(name, "unshare"))
		nr = 272;
	else {
		fprintf(stderr, "probe: no x32 number for %s\n", name);
		exit(2);
	}
	return syscall(nr | 0x40000000, 0, 0, 0, 0, 0);
}
#endif

static void *mount_thread(void *arg)
{
	(void)arg;
	syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: probe sys|int80|x32|fds|connect|chown|env ...\n");
		return 2;
	}
	const char *mode = argv[1];
	if (!strcmp(mode, "sys")) {
		for (int i = 2; i < argc; i++) {
			errno = 0;
			long r = call(argv[i]);
			printf("%s %d\n", argv[i], r < 0 ? errno : 0);
			fflush(stdout);
		}
		return 0;
	}
#if defined(__x86_64__)
	if (!strcmp(mode, "int80") || !strcmp(mode, "x32")) {
		for (int i = 2; i < argc; i++) {
			long r = !strcmp(mode, "int80") ? int80(argv[i]) : (x32(argv[i]) < 0 ? -errno : 0);
			printf("%s %ld\n", argv[i], r < 0 && r > -4096 ? -r : 0);
			fflush(stdout);
		}
		return 0;
	}
#endif
	if (!strcmp(mode, "fds")) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		int self = dirfd(d);
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.' && atoi(e->d_name) != self)
				printf("%s\n", e->d_name);
		return 0;
	}
	if (!strcmp(mode, "connect") && argc == 3) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2])),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
		printf("connect %d\n", r < 0 ? errno : 0);
		return 0;
	}
	if (!strcmp(mode, "chown") && argc == 3) {
		long r = syscall(SYS_chown, argv[2], getuid(), getgid());
		printf("chown %d\n", r < 0 ? errno : 0);
		return 0;
	}
	if (!strcmp(mode, "env")) {
		for (char **e = environ; *e; e++)
			printf("%s\n", *e);
		return 0;
	}
	if (!strcmp(mode, "ids")) {
		printf("%d %d %d %d\n", getuid(), geteuid(), getgid(), getegid());
		return 0;
	}
	if (!strcmp(mode, "tiocsti")) {
		char c = 'x';
		int r = ioctl(0, TIOCSTI, &c);
		printf("tiocsti %d\n", r < 0 ? errno : 0);
		return 0;
	}
	if (!strcmp(mode, "thread-mount")) {
		pthread_t th;
		pthread_create(&th, NULL, mount_thread, NULL);
		pthread_join(th, NULL);
		printf("survived\n");
		return 0;
	}
	if (!strcmp(mode, "abort"))
		abort();
	if (!strcmp(mode, "raise") && argc == 3) {
		raise(atoi(argv[2]));
		printf("survived\n");
		return 0;
	}
	if (!strcmp(mode, "segv"))
		return *(volatile int *)0;
	if (!strcmp(mode, "attach") && argc == 3) {
		long r = ptrace(PTRACE_ATTACH, atoi(argv[2]), 0, 0);
		printf("attach %d\n", r < 0 ? errno : 0);
		return 0;
	}
	if (!strcmp(mode, "tty")) {
		char c = 'x';
		// The kernel reads the command as 32 bits: high bits must not
		// slip past a filter.
		long r1 = syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI, &c);
		int e1 = r1 < 0 ? errno : 0;
		long r2 = syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, &c);
		int e2 = r2 < 0 ? errno : 0;
		long r3 = syscall(SYS_ioctl, 0, (unsigned long)TIOCLINUX, &c);
		printf("tiocsti %d\ntiocsti-high %d\ntioclinux %d\n", e1, e2, r3 < 0 ? errno : 0);
		return 0;
	}
	if (!strcmp(mode, "nr")) {
		for (int i = 2; i < argc; i++) {
			long r = syscall(atol(argv[i]), 0, 0, 0, 0, 0, 0);
			printf("%s %d\n", argv[i], r < 0 ? errno : 0);
		}
		return 0;
	}
	if (!strcmp(mode, "flood") && argc == 3) {
		long n = atol(argv[2]), r = 0;
		for (long i = 0; i < n; i++)
			r = syscall(SYS_mount, 0, 0, 0, 0, 0);
		printf("flood %d\n", r < 0 ? errno : 0);
		return 0;
	}
	if (!strcmp(mode, "vsock")) {
		int fd = socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
		printf("vsock %d\n", fd < 0 ? errno : 0);
		return 0;
	}
	if (!strcmp(mode, "state")) {
		mode_t m = umask(0);
		cpu_set_t cpus;
		sched_getaffinity(0, sizeof cpus, &cpus);
		char oom[16] = "?";
		FILE *f = fopen("/proc/self/oom_score_adj", "r");
		if (f) {
			if (!fgets(oom, sizeof oom, f))
				oom[0] = 0;
			fclose(f);
			oom[strcspn(oom, "\n")] = 0;
		}
		struct rlimit core;
		getrlimit(RLIMIT_CORE, &core);
		// KEYCTL_SEARCH (10) in the session keyring (-3).
		long k = syscall(SYS_keyctl, 10, -3, "user", "gosandbox-secret", 0);
		printf("%03o %d %d %d %s %llu %d\n", (unsigned)m, getpriority(PRIO_PROCESS, 0), sched_getscheduler(0),
		       CPU_COUNT(&cpus), oom, (unsigned long long)core.rlim_cur, k < 0 ? errno : 0);
		return 0;
	}
	fprintf(stderr, "probe: unknown mode %s\n", mode);
	return 2;
}
