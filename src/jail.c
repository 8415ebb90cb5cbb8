/*
 * --jail: confine kvmbox before the VM exists, after Firecracker's jailer, but in-process (kvmbox
 * is dynamically linked, so it jails itself after its libraries are loaded instead of exec'ing a
 * copy inside the jail):
 *   - a new PID namespace: kvmbox forks once; the parent waits and relays signals and the exit
 *     status, the child is PID 1 of its own namespace and runs the VMM;
 *   - new mount, IPC and UTS namespaces, and a new network namespace unless --netns joins one;
 *   - the jail directory becomes / (pivot_root; the old root is detached), holding /dev/kvm and,
 *     for NICs, /dev/net/tun, made there (mknod, or a bind mount where mknod is not allowed);
 *   - inherited descriptors above stderr closed, RLIMIT_NOFILE (and RLIMIT_FSIZE) set;
 *   - every capability dropped (bounding and ambient sets too), supplementary groups cleared,
 *     then uid/gid set to the unprivileged ids; no_new_privs; death of the parent kills the child.
 * The seccomp filters come after, in main_vmm, as for every run.
 */
#include "jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvm.h"

#define JAIL_OLD_ROOT ".kvmbox-old-root"

static pid_t jail_child;

static int jail_err(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int jail_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* The parent: pass termination signals on to the jailed kvmbox. */
static void jail_forward(int sig)
{
	if (jail_child > 0)
		kill(jail_child, sig);
}

static int jail_wait(pid_t child)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;
	int st;

	jail_child = child;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = jail_forward;
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			return 10;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 10;
}

/*
 * A character device node for the jailed kvmbox, owned by its uid/gid, made through directory
 * descriptors opened without following symlinks: the jail directory's contents may have been left
 * by an earlier jailed (so possibly compromised) kvmbox, e.g. `dev` turned into a link to /etc, and
 * root must not create or chown anything outside the jail because of that.
 */
static int jail_node(int dirfd, const char *name, const char *host_path, unsigned maj, unsigned min,
		     const struct config_jail *j, char *err, size_t errlen)
{
	char proc[64];
	struct stat st;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(maj, min))
			return jail_err(err, errlen, -EEXIST,
					"--jail: '%s' in the jail exists and is not %s", host_path,
					host_path);
	} else if (mknodat(dirfd, name, S_IFCHR | 0660, makedev(maj, min)) < 0) {
		/* Where the device cgroup or a user namespace forbids mknod: bind the host's node
		 * (then it keeps the host's owner and mode: the jail's ids must be able to open
		 * it). */
		fd =
		    openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return jail_err(err, errlen, -errno, "--jail: cannot create %s: %s",
					host_path, strerror(errno));
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (mount(host_path, proc, NULL, MS_BIND, NULL) < 0) {
			close(fd);
			return jail_err(err, errlen, -errno, "--jail: cannot provide %s: %s",
					host_path, strerror(errno));
		}
		close(fd);
		return 0;
	}
	if (fchownat(dirfd, name, j->uid, j->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fchmodat(dirfd, name, 0660, 0) < 0)
		return jail_err(err, errlen, -errno, "--jail: cannot hand %s to uid %u: %s",
				host_path, j->uid, strerror(errno));
	return 0;
}

/* DIR/name as a root-owned directory (made or fixed up), opened without following links. */
static int jail_subdir(int dirfd, const char *name, char *err, size_t errlen)
{
	int fd;

	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return jail_err(err, errlen, -errno, "--jail: cannot create '%s': %s", name,
				strerror(errno));
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return jail_err(err, errlen, -ENOTDIR,
				"--jail: '%s' in the jail is not a directory", name);
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0755) < 0) {
		close(fd);
		return jail_err(err, errlen, -errno, "--jail: cannot secure '%s': %s", name,
				strerror(errno));
	}
	return fd;
}

static int jail_devices(const char *root, const struct config_jail *j, bool need_tun, char *err,
			size_t errlen)
{
	int rootfd, devfd, netfd, ret;

	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return jail_err(err, errlen, -errno, "--jail: cannot open '%s': %s", root,
				strerror(errno));
	devfd = jail_subdir(rootfd, "dev", err, errlen);
	close(rootfd);
	if (devfd < 0)
		return devfd;
	ret = jail_node(devfd, "kvm", "/dev/kvm", 10, 232, j, err, errlen);
	if (!ret && need_tun) {
		netfd = jail_subdir(devfd, "net", err, errlen);
		ret = netfd < 0 ? netfd
				: jail_node(netfd, "tun", "/dev/net/tun", 10, 200, j, err, errlen);
		if (netfd >= 0)
			close(netfd);
	}
	close(devfd);
	return ret;
}

static int jail_filesystem(const char *root, const struct config_jail *j, bool need_tun, char *err,
			   size_t errlen)
{
	int ret;

	/* Nothing mounted here propagates back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return jail_err(err, errlen, -errno, "--jail: cannot make mounts private: %s",
				strerror(errno));
	/* pivot_root wants the new root to be a mount point. */
	if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
		return jail_err(err, errlen, -errno, "--jail: cannot bind '%s': %s", root,
				strerror(errno));
	ret = jail_devices(root, j, need_tun, err, errlen);
	if (ret)
		return ret;
	if (chdir(root) < 0)
		return jail_err(err, errlen, -errno, "--jail: cannot enter '%s': %s", root,
				strerror(errno));
	if (mkdir(JAIL_OLD_ROOT, 0700) < 0 && errno != EEXIST)
		return jail_err(err, errlen, -errno, "--jail: cannot create '%s/%s': %s", root,
				JAIL_OLD_ROOT, strerror(errno));
	if (syscall(SYS_pivot_root, ".", JAIL_OLD_ROOT) < 0)
		return jail_err(err, errlen, -errno, "--jail: pivot_root into '%s': %s", root,
				strerror(errno));
	if (chdir("/") < 0 || umount2("/" JAIL_OLD_ROOT, MNT_DETACH) < 0)
		return jail_err(err, errlen, -errno, "--jail: cannot detach the host's root: %s",
				strerror(errno));
	rmdir("/" JAIL_OLD_ROOT);
	return 0;
}

static int jail_limits(const struct config_jail *j, char *err, size_t errlen)
{
	struct rlimit rl = { .rlim_cur = j->nofile, .rlim_max = j->nofile };

	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return jail_err(err, errlen, -errno, "--jail: cannot set RLIMIT_NOFILE: %s",
				strerror(errno));
	if (j->fsize) {
		rl.rlim_cur = rl.rlim_max = j->fsize;
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			return jail_err(err, errlen, -errno, "--jail: cannot set RLIMIT_FSIZE: %s",
					strerror(errno));
	}
	/* A memory cap for the whole VMM: guest RAM is mapped up front, so a guest larger than
	 * this fails to start with a clear error instead of growing into it. */
	if (j->as) {
		rl.rlim_cur = rl.rlim_max = j->as;
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			return jail_err(err, errlen, -errno, "--jail: cannot set RLIMIT_AS: %s",
					strerror(errno));
	}
	return 0;
}

static int jail_drop_privileges(const struct config_jail *j, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return jail_err(err, errlen, -errno,
					"--jail: cannot drop capability %d: %s", cap,
					strerror(errno));
	if (setgroups(0, NULL) < 0 || setresgid(j->gid, j->gid, j->gid) < 0 ||
	    setresuid(j->uid, j->uid, j->uid) < 0)
		return jail_err(err, errlen, -errno, "--jail: cannot become uid %u gid %u: %s",
				j->uid, j->gid, strerror(errno));
	/* Leaving uid 0 cleared the permitted and effective sets; make sure. */
	if (syscall(SYS_capget, &hdr, data) < 0 || data[0].effective || data[0].permitted ||
	    data[1].effective || data[1].permitted)
		return jail_err(err, errlen, -EPERM,
				"--jail: capabilities survived the uid change");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return jail_err(err, errlen, -errno, "--jail: no_new_privs: %s", strerror(errno));
	/* Cleared by the uid change, so set now: the parent going away takes the VM with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	return 0;
}

/* In the child, PID 1 of the new PID namespace. */
static int jail_setup(const char *root, int netns_fd, const struct config_jail *j, bool need_tun,
		      char *err, size_t errlen)
{
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
	int ret;

	if (netns_fd >= 0) {
		if (setns(netns_fd, CLONE_NEWNET) < 0)
			return jail_err(err, errlen, -errno, "--netns '%s': cannot join: %s",
					j->netns, strerror(errno));
		close(netns_fd);
	} else {
		flags |= CLONE_NEWNET;
	}
	/* Descriptors inherited from whoever started kvmbox stay outside. */
	syscall(SYS_close_range, 3, ~0U, 0);
	if (unshare(flags) < 0)
		return jail_err(err, errlen, -errno, "--jail: cannot create namespaces: %s",
				strerror(errno));
	ret = jail_filesystem(root, j, need_tun, err, errlen);
	if (!ret)
		ret = jail_limits(j, err, errlen);
	if (!ret)
		ret = jail_drop_privileges(j, err, errlen);
	return ret;
}

int jail_enter(const struct config_jail *j, bool need_tun, int *status, char *err, size_t errlen)
{
	char root[PATH_MAX];
	struct stat st;
	int netns_fd = -1, ret;
	pid_t child;

	if (geteuid() != 0)
		return jail_err(
		    err, errlen, -EPERM,
		    "--jail needs root: it creates namespaces and device nodes, then runs "
		    "as uid %u",
		    j->uid);
	if (!realpath(j->root, root))
		return jail_err(err, errlen, -ENOENT, "--jail directory '%s': %s", j->root,
				strerror(errno));
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
		return jail_err(err, errlen, -ENOTDIR, "--jail '%s' is not a directory", j->root);
	if (!strcmp(root, "/"))
		return jail_err(err, errlen, -EINVAL, "--jail / would not confine anything");
	if (j->netns) {
		netns_fd = open(j->netns, O_RDONLY | O_CLOEXEC);
		if (netns_fd < 0)
			return jail_err(err, errlen, -ENOENT, "--netns '%s': %s", j->netns,
					strerror(errno));
	}
	/* What /sys says about the host, while it is still visible. */
	kvm_backend();
	if (unshare(CLONE_NEWPID) < 0) {
		ret = -errno;
		if (netns_fd >= 0)
			close(netns_fd);
		return jail_err(err, errlen, ret, "--jail: cannot create a PID namespace: %s",
				strerror(-ret));
	}
	fflush(NULL);
	child = fork();
	if (child < 0) {
		ret = -errno;
		if (netns_fd >= 0)
			close(netns_fd);
		return jail_err(err, errlen, ret, "--jail: fork: %s", strerror(-ret));
	}
	if (child > 0) {
		if (netns_fd >= 0)
			close(netns_fd);
		*status = jail_wait(child);
		return 1;
	}
	ret = jail_setup(root, netns_fd, j, need_tun, err, errlen);
	return ret < 0 ? ret : 0;
}
