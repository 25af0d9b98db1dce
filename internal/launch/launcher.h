// The launcher's child side: a small interpreter of setup steps that runs
// between clone and execve. See launcher.c.

#ifndef SANDBOX_LAUNCHER_H
#define SANDBOX_LAUNCHER_H

#include <stdint.h>

// Step codes. Keep in sync with the constants in launch_linux.go.
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
	SB_SECCOMP,        // a0 = struct sock_fprog *, a1 = 1 to hand a listener to the parent
	SB_EXEC,           // a0 = char ** candidates (NULL-terminated), a1 = argv, a2 = envp
	SB_TRACEME,        // be traced by the parent: the exec stops for it
	SB_UNSHARE,        // a0 = CLONE_* flags
	SB_EXEC_STATIC,    // as SB_EXEC, for static ELF executables of the native arch only
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

// sb_config is everything the child reads. It lives in C memory that the
// parent keeps alive until the child has exec'd or died.
struct sb_config {
	int32_t sync_fd;     // child reads one byte from it once the id maps are written
	int32_t sync_peer;   // the parent's end, closed in the child
	int32_t err_fd;      // child writes a struct sb_failure to it on failure
	int32_t err_peer;    // the parent's end, closed in the child
	int32_t nsteps;
	int32_t nslots;
	struct sb_step *steps;
	int32_t *slots;      // fds made by SB_OPEN_TREE
};

// sb_failure is what the child reports: which step failed and its errno.
// A step of SB_LISTENER is no failure: err is the fd of a seccomp listener
// for the parent to take (pidfd_getfd) before it writes the child a byte.
#define SB_LISTENER (-1)
struct sb_failure {
	int32_t step;
	int32_t err;
};

// sb_clone starts the child. It returns the pid, or -errno. *pidfd receives a
// pidfd for the child, *stack the mapping to release with sb_release_stack.
long sb_clone(struct sb_config *cfg, unsigned long flags, int *pidfd, void **stack);

// sb_clone3 is sb_clone by clone3 with CLONE_INTO_CGROUP: the child starts
// in the cgroup v2 directory cgroup_fd. It returns -ENOSYS (or another
// -errno) where the kernel cannot.
long sb_clone3(struct sb_config *cfg, unsigned long flags, int cgroup_fd, int *pidfd, void **stack);

// sb_release_stack frees a stack from sb_clone. Call it only once the child
// has exec'd or exited.
void sb_release_stack(void *stack);

#endif
