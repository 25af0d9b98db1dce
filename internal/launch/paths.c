// Path resolution for the launcher's setup steps.
//
// Every path a step makes, mounts on or enters is resolved with
// openat2(RESOLVE_NO_MAGICLINKS): a symlink a program planted in a
// read-write bind, or a target under /dev/fd, would otherwise lead through
// /proc/self/fd into the directories the launcher holds open (its captured
// bind sources, which are the host's), and make it create files there as
// root. Creates are O_EXCL|O_NOFOLLOW on their parent's fd, and mounts go
// through the fd that was opened, never through the path again.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "launcher.h"
#include "raw.h"

#define PATH_MAX_LEN 4096

long sb_open(const char *path, long flags, long mode)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .mode = (uint64_t)mode,
			       .resolve = RESOLVE_NO_MAGICLINKS};
	return SYS4(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
}

long sb_open_parent(const char *path, const char **base)
{
	char dir[PATH_MAX_LEN];
	long n = 0, slash = -1;
	for (; path[n]; n++) {
		if (n >= PATH_MAX_LEN - 1)
			return -ENAMETOOLONG;
		dir[n] = path[n];
		if (path[n] == '/')
			slash = n;
	}
	if (slash < 0 || path[slash + 1] == 0)
		return -EINVAL;
	*base = path + slash + 1;
	if (slash == 0)
		slash = 1; // the parent is "/"
	dir[slash] = 0;
	return sb_open(dir, O_PATH | O_DIRECTORY, 0);
}

long sb_fd_path(long fd, char buf[32])
{
	const char prefix[] = "/proc/self/fd/";
	char digits[16];
	int n = 0, i = 0;
	do {
		digits[n++] = (char)('0' + fd % 10);
		fd /= 10;
	} while (fd > 0 && n < 15);
	for (; prefix[i]; i++)
		buf[i] = prefix[i];
	while (n > 0)
		buf[i++] = digits[--n];
	buf[i] = 0;
	return 0;
}

long sb_mkdir(const char *path, long mode)
{
	const char *base;
	long dfd = sb_open_parent(path, &base);
	if (dfd < 0)
		return dfd;
	long r = SYS3(SYS_mkdirat, dfd, base, mode);
	SYS1(SYS_close, dfd);
	return r;
}

long sb_create(const char *path, long mode, int exist_ok)
{
	const char *base;
	long dfd = sb_open_parent(path, &base);
	if (dfd < 0)
		return dfd;
	long fd = SYS4(SYS_openat, dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd == -EEXIST && exist_ok) {
		// A mount point there already: only a regular file will do,
		// never a link.
		struct stat st;
		fd = SYS4(SYS_newfstatat, dfd, base, &st, AT_SYMLINK_NOFOLLOW);
		if (fd == 0 && !S_ISREG(st.st_mode))
			fd = -EEXIST;
		SYS1(SYS_close, dfd);
		return fd;
	}
	SYS1(SYS_close, dfd);
	return fd;
}

long sb_symlink(const char *target, const char *path)
{
	const char *base;
	long dfd = sb_open_parent(path, &base);
	if (dfd < 0)
		return dfd;
	long r = SYS3(SYS_symlinkat, target, dfd, base);
	SYS1(SYS_close, dfd);
	return r;
}

long sb_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)
{
	long tfd = sb_open(target, O_PATH | O_NOFOLLOW, 0);
	if (tfd < 0)
		return tfd;
	char at[32];
	sb_fd_path(tfd, at);
	long r = SYS5(SYS_mount, source, at, fstype, flags, data);
	SYS1(SYS_close, tfd);
	return r;
}

long sb_move_mount(int from, const char *target)
{
	long tfd = sb_open(target, O_PATH | O_NOFOLLOW, 0);
	if (tfd < 0)
		return tfd;
	long r = raw6(SYS_move_mount, from, (long)"", tfd, (long)"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH, 0);
	SYS1(SYS_close, tfd);
	return r;
}

long sb_chdir(const char *path)
{
	long fd = sb_open(path, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	long r = SYS1(SYS_fchdir, fd);
	SYS1(SYS_close, fd);
	return r;
}
