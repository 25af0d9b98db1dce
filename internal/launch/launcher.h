// The launcher's child side: a small interpreter of setup steps that runs
// between fork and execve, and the zygote it is forked from. See
// launcher.c and zygote.c.

#ifndef SANDBOX_LAUNCHER_H
#define SANDBOX_LAUNCHER_H

#include <stdint.h>

// Step codes. The Go side takes them from here (launch_linux.go).
//
// Adding a step:
//  1. its code here, with what a0..a4 hold;
//  2. its case in run_step (launcher.c), or in paths.c if it resolves a
//     path (never follow a magic link; creates O_EXCL|O_NOFOLLOW);
//  3. its code* constant in launch_linux.go (from C);
//  4. a builder method on Program (program_linux.go) with its doc;
//  5. its call in config.spec (child_linux.go), in the order the table
//     there gives, with a comment that says why it sits there; and
//  6. if the order matters to security, a check in TestChildOrder.
// A step whose args name fds sent along (argInt32) must also be remapped
// by the zygote (prepare, zygote.c).
enum {
	SB_SETSID = 1,
	SB_SETGROUPS,      // a0 = count (0 or 1), a1 = gid
	SB_SETRESGID,      // a0 = gid
	SB_SETRESUID,      // a0 = uid
	SB_MOUNT,          // a0 = source, a1 = target, a2 = fstype, a3 = flags, a4 = data
	SB_OPEN_TREE,      // a0 = path, a1 = recursive, a2 = slot, a3 = attr_set, a4 = attr_clr
	SB_MOVE_MOUNT,     // a0 = slot, a1 = target
	SB_SETATTR,        // a0 = path, a1 = recursive, a2 = attr_set, a3 = attr_clr
	SB_MKDIR,          // a0 = path, a1 = mode
	SB_CREATE,         // a0 = path, a1 = mode
	SB_SYMLINK,        // a0 = link target, a1 = path
	SB_WRITE_FILE,     // a0 = path, a1 = data, a2 = len, a3 = mode
	SB_PIVOT_ROOT,     // a0 = new root
	SB_CHDIR,          // a0 = path
	SB_SETHOSTNAME,    // a0 = name, a1 = len
	SB_LOOPBACK_UP,
	SB_CAPBSET_DROP,   // a0 = last cap
	SB_SECUREBITS,     // a0 = bits
	SB_CLEAR_CAPS,
	SB_NO_NEW_PRIVS,
	SB_PDEATHSIG,      // a0 = signal
	SB_SETRLIMIT,      // a0 = resource, a1 = cur, a2 = max
	SB_FDS,            // a0 = int32 array of sources, a1 = count
	SB_UNBLOCK_SIGNALS,
	SB_SECCOMP,        // a0 = struct sock_fprog *, a1 = 1 to hand a listener to the parent, a2 = SECCOMP_FILTER_FLAG_*
	SB_EXEC,           // a0 = char ** candidates (NULL-terminated), a1 = argv, a2 = envp
	SB_TRACEE,         // hand the supervisor a pidfd of this process to PTRACE_SEIZE, and wait until it has
	SB_UNSHARE,        // a0 = CLONE_* flags
	SB_EXEC_STATIC,    // as SB_EXEC, for static ELF executables of the native arch only
	SB_INIT,           // fork the program, which runs the steps after this one; this process stays as its init
	SB_UMASK,          // a0 = mask
	SB_NEW_KEYRING,    // join a new, empty session keyring
	SB_RESET_SCHED,    // SCHED_OTHER, every CPU of the cpuset
	SB_SLOT_FD,        // a0 = int32 array of one fd (a detached mount the supervisor made), a1 = slot
	SB_PARK,           // report SB_PARKED, then wait on err_fd for the rest of the launch (sb_park)
};

// Errors of SB_EXEC_STATIC beyond errno's range: why a guest is refused.
enum {
	SB_ESCRIPT = 4096 + 1,  // a script (#!)
	SB_ENOTELF,             // not an ELF executable
	SB_EARCH,               // an ELF for another architecture
	SB_EDYNAMIC,            // a dynamic executable (PT_INTERP)
};

// Step flags.
enum {
	SB_OPTIONAL = 1,   // a missing target (ENOENT) skips the step
	SB_EXIST_OK = 2,   // EEXIST is success (mkdir of a directory that exists)
};

struct sb_step {
	int32_t code;
	int32_t flags;
	uint64_t a[5];
};

// sb_config is everything the child reads, at the start of the block the
// zygote receives. The child has its own copy (a fork of the zygote).
struct sb_config {
	int32_t sync_fd;     // the child reads a byte from it when the supervisor says go on
	int32_t err_fd;      // a unix socket: the child writes its records (struct sb_record) to it
	int32_t nsteps;
	int32_t nslots;
	struct sb_step *steps;
	int32_t *slots;      // fds made by SB_OPEN_TREE
	int32_t resume;      // SB_INIT: the first step of the program
	int32_t failed;      // set by the program before it reports a failed step; its init, which shares its memory until the exec, reads it
	int32_t listener;    // under an init: the program's seccomp listener, which the init sends with SB_STARTED; -1: none
	int32_t pad;
};

// sb_record is what the child tells the supervisor on err_fd. A step >= 0
// is a failed step, with its errno; the others:
#define SB_LISTENER (-1) // with no init: err is the fd of a seccomp listener to take (pidfd_getfd) before a byte on sync_fd
#define SB_TRACEE (-2)   // err: the fd of a pidfd of the program, to PTRACE_SEIZE before a byte on sync_fd
#define SB_STARTED (-3)  // the program has exec'd; its pidfd comes with the record (SCM_RIGHTS), then its seccomp listener if it made one
#define SB_STATUS (-4)   // err: the program's wait status, from its init, which then exits
#define SB_PARKED (-5)   // at SB_PARK: the child waits for the rest of its launch (err 0), or could not take it (err: errno)
#define SB_DONE (-6)     // as SB_STATUS, once the init has killed and reaped every other process of the sandbox
struct sb_record {
	int32_t step;
	int32_t err;
};

// sb_request asks the zygote for a child. The block (an sb_config and what
// it points to, with pointers as offsets into it) follows, after nrelocs
// uint32 offsets of the pointers to relocate. The fds come with it
// (SCM_RIGHTS): sync, err, then those the SB_FDS steps name by index, and
// the cgroup v2 directory at index cgroup (-1: none).
struct sb_request {
	uint64_t clone_flags;
	uint32_t size;
	uint32_t nrelocs;
	int32_t cgroup;
	int32_t pad;
};

// sb_reply is the zygote's answer: the child's pid (the caller's child, by
// CLONE_PARENT) or -errno, and whether it was made in the cgroup.
struct sb_reply {
	int64_t pid;
	int32_t in_cgroup;
	int32_t pad;
};

// SB_ZYGOTE_ENV names the variable that makes a process the zygote (with
// its socket's fd number as value) before the Go runtime starts.
#define SB_ZYGOTE_ENV "_GOSANDBOX_ZYGOTE"

// Setup's path operations (paths.c): no magic link is followed, creates
// are O_EXCL|O_NOFOLLOW, mounts go through the fd opened.
long sb_open(const char *path, long flags, long mode);
long sb_open_parent(const char *path, const char **base);
long sb_fd_path(long fd, char buf[32]);
long sb_mkdir(const char *path, long mode);
long sb_create(const char *path, long mode, int exist_ok);
long sb_symlink(const char *target, const char *path);
long sb_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data);
long sb_move_mount(int from, const char *target);
long sb_chdir(const char *path);

// Shared by launcher.c and init.c.
void sb_die(struct sb_config *cfg, int step, long err) __attribute__((noreturn));
void sb_run_steps(struct sb_config *cfg, int from) __attribute__((noreturn));
void sb_start_init(struct sb_config *cfg, int i) __attribute__((noreturn));
void sb_ready_init(void);
long sb_tracee(struct sb_config *cfg);
long sb_exec_first(const uint64_t *cands, const char *const *argv, const char *const *envp);
long sb_exec_static(const uint64_t *cands, const char *const *argv, const char *const *envp);

// sb_page_size is the page size, found by the zygote when it starts.
extern long sb_page_size;

// sb_reset_priority sets nice 0 and oom_score_adj 0 where allowed; the
// zygote calls it when it starts, in the caller's user namespace, where a
// root caller may lower a nice.
void sb_reset_priority(void);

// sb_child runs the steps of cfg in a child just forked from the zygote.
void sb_child(struct sb_config *cfg) __attribute__((noreturn));

// sb_park is SB_PARK (zygote.c, which it shares the reading of a request
// with).
void sb_park(struct sb_config *cfg) __attribute__((noreturn));

#endif
