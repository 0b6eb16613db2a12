// csrun's init stage, in C, run from a constructor before the Go runtime
// starts. See the package comment in initstage.go for why and for the
// protocol; the operation codes are in initstage.h.
//
// The stage reads a program (a list of operations the Go parent prepared
// from config.json) from fd 3, runs it, and execs the container process. It
// is single-threaded: credentials, capabilities, no_new_privs and seccomp
// apply to the whole process without any of the care a Go runtime needs.
// On any failure it sends {"type":"error","op":N,"errno":E,"error":DETAIL}
// on fd 4 and exits 1; the parent turns N back into the config.json field.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/types.h>

#include "initstage.h"

// struct mount_attr of <linux/mount.h>, which clashes with <sys/mount.h>
// in older C libraries; mount_setattr(2) is Linux 5.12.
struct mount_attr_ {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

// A phase, as the parent's span type decodes it.
struct span {
	const char *name;
	int64_t start, end;
};

#define MAX_SPANS 32

static struct {
	struct span spans[MAX_SPANS];
	int nspans;
	int64_t last;            // start of the current phase
	const char *root_switch; // "pivot_root" or "move_chroot"
	char exec_path[PATH_MAX];
	int op;                  // index of the running operation, -1 before any
	int err;                 // errno of the failure, 0 if none applies
	char detail[2 * PATH_MAX];
} st = {.op = -1, .root_switch = ""};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// fail records the failure of the running operation and returns -1.
__attribute__((format(printf, 2, 3))) static int fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st.detail, sizeof st.detail, fmt, ap);
	va_end(ap);
	st.err = err;
	return -1;
}

// ---- messages to the parent (fd 4), one JSON object per line ----

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		while (cap < b->len + n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			_exit(1);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	put(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_json_string(struct buf *b, const char *s)
{
	put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			put(b, "\\", 1);
			put(b, s, 1);
		} else if (c < 0x20) {
			putf(b, "\\u%04x", c);
		} else {
			put(b, s, 1);
		}
	}
	put(b, "\"", 1);
}

static int send_msg(struct buf *b)
{
	put(b, "}\n", 2);
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(CSI_FD_SYNC, b->p + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += n;
	}
	free(b->p);
	return 0;
}

// send_phases sends a "ready" or "exec" message with the phases so far,
// and forgets them.
static int send_phases(const char *type)
{
	struct buf b = {0};
	puts_(&b, "{\"type\":");
	put_json_string(&b, type);
	puts_(&b, ",\"spans\":[");
	for (int i = 0; i < st.nspans; i++) {
		struct span *s = &st.spans[i];
		puts_(&b, i ? ",{\"n\":" : "{\"n\":");
		put_json_string(&b, s->name);
		putf(&b, ",\"Start\":%lld,\"End\":%lld}", (long long)s->start, (long long)s->end);
	}
	put(&b, "]", 1);
	if (*st.root_switch) {
		puts_(&b, ",\"root_switch\":");
		put_json_string(&b, st.root_switch);
	}
	st.nspans = 0;
	return send_msg(&b);
}

static void send_error(void)
{
	struct buf b = {0};
	putf(&b, "{\"type\":\"error\",\"op\":%d,\"errno\":%d,\"error\":", st.op, st.err);
	put_json_string(&b, st.detail);
	send_msg(&b);
}

// ---- paths ----

// join writes dir/name to out, without doubling a slash.
static int join(char *out, size_t size, const char *dir, const char *name)
{
	size_t n = strlen(dir);
	const char *sep = (n > 0 && dir[n - 1] == '/') || !*name ? "" : "/";
	if ((size_t)snprintf(out, size, "%s%s%s", dir, sep, name) >= size)
		return fail(ENAMETOOLONG, "%s/%s", dir, name);
	return 0;
}

// dir_of writes the directory part of the absolute path p (filepath.Dir).
static void dir_of(char *out, size_t size, const char *p)
{
	snprintf(out, size, "%s", p);
	char *slash = strrchr(out, '/');
	if (slash == out)
		out[1] = 0;
	else if (slash)
		*slash = 0;
}

// mkdir_all is os.MkdirAll(path, 0755).
static int mkdir_all(const char *path)
{
	char p[PATH_MAX];
	struct stat sb;
	if (stat(path, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return 0;
		return fail(ENOTDIR, "mkdir %s", path);
	}
	if ((size_t)snprintf(p, sizeof p, "%s", path) >= sizeof p)
		return fail(ENAMETOOLONG, "mkdir %s", path);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != 0)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return fail(errno, "mkdir %s", p);
		*s = c;
		if (!c)
			break;
	}
	if (stat(path, &sb) < 0)
		return fail(errno, "mkdir %s", path);
	if (!S_ISDIR(sb.st_mode))
		return fail(ENOTDIR, "mkdir %s", path);
	return 0;
}

// mk_target creates a mount point: a directory, or an empty file.
static int mk_target(const char *dest, int dir)
{
	if (dir)
		return mkdir_all(dest);
	char parent[PATH_MAX];
	dir_of(parent, sizeof parent, dest);
	if (mkdir_all(parent) < 0)
		return -1;
	int fd = open(dest, O_CREAT | O_RDONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(errno, "open %s", dest);
	close(fd);
	return 0;
}

// resolve_in resolves the clean absolute path inside root, following
// symlinks as if root were "/", so that a rootfs cannot point a mount
// outside itself. A component that does not exist (yet) is taken as is.
static int resolve_in(const char *root, const char *path, char *out, size_t size)
{
	char rest[2 * PATH_MAX], tmp[2 * PATH_MAX];
	char resolved[PATH_MAX] = "", next[PATH_MAX], full[PATH_MAX], link[PATH_MAX];
	int links = 0;
	size_t pos = 0;
	if ((size_t)snprintf(rest, sizeof rest, "%s", path) >= sizeof rest)
		return fail(ENAMETOOLONG, "%s", path);
	while (rest[pos]) {
		while (rest[pos] == '/')
			pos++;
		if (!rest[pos])
			break;
		size_t start = pos;
		while (rest[pos] && rest[pos] != '/')
			pos++;
		size_t clen = pos - start;
		const char *c = rest + start;
		if (clen == 1 && c[0] == '.')
			continue;
		if (clen == 2 && c[0] == '.' && c[1] == '.') {
			char *slash = strrchr(resolved, '/');
			if (slash)
				*slash = 0;
			else
				resolved[0] = 0;
			continue;
		}
		if ((size_t)snprintf(next, sizeof next, "%s%s%.*s", resolved, *resolved ? "/" : "", (int)clen, c) >= sizeof next)
			return fail(ENAMETOOLONG, "%s", path);
		if (join(full, sizeof full, root, next) < 0)
			return -1;
		ssize_t n = readlink(full, link, sizeof link - 1);
		if (n < 0) {
			memcpy(resolved, next, strlen(next) + 1); // not a symlink, or not there yet
			continue;
		}
		link[n] = 0;
		if (++links > 40)
			return fail(0, "%s: too many levels of symbolic links", path);
		if (link[0] == '/')
			resolved[0] = 0;
		if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s", link, rest + pos) >= sizeof tmp)
			return fail(ENAMETOOLONG, "%s", path);
		memcpy(rest, tmp, strlen(tmp) + 1);
		pos = 0;
	}
	return join(out, size, root, resolved);
}

// csi_resolve_in is resolve_in for the package's tests (through cgo).
int csi_resolve_in(const char *root, const char *path, char *out, size_t size, char *detail, size_t dsize)
{
	int r = resolve_in(root, path, out, size);
	if (r < 0)
		snprintf(detail, dsize, "%s", st.detail);
	return r;
}

// ---- mounts ----

static int mount_(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)
{
	// Like x/sys/unix.Mount: some file systems refuse "" as data, want NULL.
	return mount(src, target, fstype, flags, data && *data ? data : NULL);
}

#define LOCKED_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME)

// remount applies flags to a bind mount, keeping the flags a user namespace
// may not clear (statfs's ST_* bits are the MS_* ones).
static int remount(const char *dest, unsigned long flags)
{
	struct statfs sfs;
	if (statfs(dest, &sfs) < 0)
		return fail(errno, "statfs %s", dest);
	unsigned long locked = (unsigned long)sfs.f_flags & LOCKED_FLAGS;
	if (mount_("", dest, "", MS_BIND | MS_REMOUNT | flags | locked, NULL) < 0)
		return fail(errno, "remount %s (%#lx)", dest, flags | locked);
	return 0;
}

// ---- the program ----

struct op {
	uint32_t code, nargs;
	const char **arg; // each NUL-terminated
	uint32_t *len;
};

static const char *s_arg(struct op *o, uint32_t i) { return o->arg[i]; }

// u_arg reads a uint64 argument (checked by well_formed).
static uint64_t u_arg(struct op *o, uint32_t i)
{
	uint64_t v;
	memcpy(&v, o->arg[i], 8);
	return v;
}

// The arguments of each operation: s string, u uint64, b bytes, * any
// number of strings more.
static const char *const signature[CSI_OP_MAX] = {
	[CSI_MARK] = "s", [CSI_MOUNT] = "sssus", [CSI_CONFIG_MOUNT] = "ssssususbuu",
	[CSI_MKDIR_ALL] = "s", [CSI_DEVICE] = "sssuuuuu", [CSI_SYMLINK] = "ss",
	[CSI_PTMX] = "s", [CSI_SWITCH_ROOT] = "su", [CSI_MASK] = "s", [CSI_READONLY] = "s",
	[CSI_SETHOSTNAME] = "s", [CSI_SETDOMAINNAME] = "s", [CSI_WRITE_FILE] = "sb",
	[CSI_REMOUNT] = "su", [CSI_READY] = "", [CSI_WAIT_START] = "", [CSI_CLOSE] = "u",
	[CSI_LOOKPATH] = "ss", [CSI_CHDIR] = "s", [CSI_RLIMIT] = "uuu", [CSI_UMASK] = "u",
	[CSI_SECCOMP] = "ub", [CSI_CREDENTIALS] = "uuuuuuub", [CSI_NO_NEW_PRIVS] = "",
	[CSI_EXEC_MSG] = "", [CSI_EXECVE] = "u*", [CSI_HOOKS_SYNC] = "u", [CSI_HOOK] = "subu*",
};

static int well_formed(struct op *o)
{
	const char *sig = o->code < CSI_OP_MAX ? signature[o->code] : NULL;
	if (!sig)
		return 0;
	uint32_t n = strlen(sig), fixed = n;
	if (n && sig[n - 1] == '*')
		fixed--;
	if (fixed == n ? o->nargs != n : o->nargs < fixed)
		return 0;
	for (uint32_t i = 0; i < fixed; i++)
		if (sig[i] == 'u' && o->len[i] != 8)
			return 0;
	return 1;
}

static int op_config_mount(struct op *o)
{
	const char *rootfs = s_arg(o, 0), *path = s_arg(o, 1), *src = s_arg(o, 2), *fstype = s_arg(o, 3);
	unsigned long flags = u_arg(o, 4);
	const char *data = s_arg(o, 5), *host = s_arg(o, 7);
	int bind = u_arg(o, 6) != 0;
	char dest[PATH_MAX];
	if (resolve_in(rootfs, path, dest, sizeof dest) < 0)
		return -1;
	if (bind) {
		struct stat sb;
		if (stat(src, &sb) < 0)
			return fail(errno, "source: stat %s", src);
		if (mk_target(dest, S_ISDIR(sb.st_mode)) < 0)
			return -1;
		// Flags other than MS_BIND|MS_REC are ignored by a bind: remount.
		if (mount_(src, dest, "", flags & (MS_BIND | MS_REC), NULL) < 0)
			return fail(errno, "mount %s", src);
		unsigned long rest = flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
		if (rest && remount(dest, rest) < 0)
			return -1;
	} else {
		if (mk_target(dest, 1) < 0)
			return -1;
		if (mount_(src, dest, fstype, flags, data) < 0) {
			// In a user namespace sysfs and cgroup2 may be refused (the
			// net or cgroup namespace is not ours): bind the host's, as
			// runc does.
			int e = errno;
			if (!*host || !(e == EPERM || e == EBUSY || e == ENODEV))
				return fail(e, "mount");
			if (mount_(host, dest, "", MS_BIND | MS_REC, NULL) < 0)
				return fail(errno, "mount: %s; bind of host %s", strerror(e), host);
			if (remount(dest, flags & ~(unsigned long)MS_REMOUNT) < 0)
				return -1;
		}
	}
	const char *props = o->arg[8];
	uint32_t nprops = o->len[8] / 8;
	for (uint32_t i = 0; i < nprops; i++) {
		uint64_t p;
		memcpy(&p, props + 8 * i, 8);
		if (mount_("", dest, "", p, NULL) < 0)
			return fail(errno, "propagation %#llx", (unsigned long long)p);
	}
	struct mount_attr_ attr = {.attr_set = u_arg(o, 9), .attr_clr = u_arg(o, 10)};
	if ((attr.attr_set || attr.attr_clr) &&
	    syscall(SYS_mount_setattr, AT_FDCWD, dest, AT_RECURSIVE, &attr, sizeof attr) < 0)
		return fail(errno, "mount_setattr(AT_RECURSIVE, set %#llx, clear %#llx)",
			    (unsigned long long)attr.attr_set, (unsigned long long)attr.attr_clr);
	return 0;
}

// op_device creates a device node, or in a user namespace (where mknod is
// refused) bind-mounts the host's node.
static int op_device(struct op *o)
{
	const char *rootfs = s_arg(o, 0), *path = s_arg(o, 1), *host = s_arg(o, 2);
	mode_t mode = u_arg(o, 3);
	dev_t dev = u_arg(o, 4);
	uid_t uid = (uid_t)u_arg(o, 5);
	gid_t gid = (gid_t)u_arg(o, 6);
	int userns = u_arg(o, 7) != 0;
	char dest[PATH_MAX], parent[PATH_MAX];
	if (resolve_in(rootfs, path, dest, sizeof dest) < 0)
		return -1;
	dir_of(parent, sizeof parent, dest);
	if (mkdir_all(parent) < 0)
		return -1;
	if (userns) {
		if (mk_target(dest, 0) < 0)
			return -1;
		if (mount_(host, dest, "", MS_BIND, NULL) < 0)
			return fail(errno, "bind %s", host);
		return 0;
	}
	if (unlink(dest) < 0 && errno != ENOENT && !(errno == EISDIR && rmdir(dest) == 0))
		return fail(errno, "remove %s", dest);
	mode_t old = umask(0);
	int r = mknod(dest, mode, dev);
	int e = errno;
	umask(old);
	if (r < 0)
		return fail(e, "mknod %s", dest);
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && lchown(dest, uid, gid) < 0)
		return fail(errno, "lchown %s", dest);
	return 0;
}

static int op_ptmx(struct op *o)
{
	char pts[PATH_MAX], ptmx[PATH_MAX];
	struct stat sb;
	if (join(pts, sizeof pts, s_arg(o, 0), "pts/ptmx") < 0 || join(ptmx, sizeof ptmx, s_arg(o, 0), "ptmx") < 0)
		return -1;
	if (stat(pts, &sb) < 0)
		return 0;
	if (unlink(ptmx) < 0 && errno != ENOENT)
		return fail(errno, "remove %s", ptmx);
	if (symlink("pts/ptmx", ptmx) < 0)
		return fail(errno, "symlink %s", ptmx);
	return 0;
}

// op_switch_root makes rootfs the root: pivot_root(2), or when asked (no
// pivot, for an initramfs root where pivot_root fails with EINVAL) MS_MOVE
// onto / and chroot, as runc's --no-pivot does. Never one for the other
// silently.
static int op_switch_root(struct op *o)
{
	const char *rootfs = s_arg(o, 0);
	int no_pivot = u_arg(o, 1) != 0;
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0)
		return fail(errno, "pivot_root: open /");
	int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0)
		return fail(errno, "pivot_root: open %s", rootfs);
	if (fchdir(newroot) < 0)
		return fail(errno, "pivot_root: fchdir %s", rootfs);
	if (no_pivot) {
		if (mount_(rootfs, "/", "", MS_MOVE, NULL) < 0)
			return fail(errno, "no pivot: mount --move %s /", rootfs);
		if (chroot(".") < 0)
			return fail(errno, "chroot");
		if (chdir("/") < 0)
			return fail(errno, "chdir /");
		st.root_switch = "move_chroot";
	} else {
		if (syscall(SYS_pivot_root, ".", ".") < 0) {
			if (errno == EINVAL)
				return fail(errno, "pivot_root %s (csrun's root may be an initramfs, which cannot be pivoted away from: "
						   "switch_root first, or run csrun create/run with --no-pivot)", rootfs);
			return fail(errno, "pivot_root %s", rootfs);
		}
		// The old root is now stacked on "/": detach it without
		// propagating the unmount to the host.
		if (fchdir(oldroot) < 0)
			return fail(errno, "pivot_root: fchdir old root");
		if (mount_("", ".", "", MS_SLAVE | MS_REC, NULL) < 0)
			return fail(errno, "pivot_root: make old root rslave");
		if (umount2(".", MNT_DETACH) < 0)
			return fail(errno, "pivot_root: detach old root");
		if (chdir("/") < 0)
			return fail(errno, "chdir /");
		st.root_switch = "pivot_root";
	}
	close(oldroot);
	close(newroot);
	return 0;
}

// op_mask hides a path: /dev/null over a file, an empty read-only tmpfs
// over a directory. A path that does not exist needs no masking.
static int op_mask(struct op *o)
{
	const char *p = s_arg(o, 0);
	struct stat sb;
	if (stat(p, &sb) < 0)
		return errno == ENOENT ? 0 : fail(errno, "stat %s", p);
	if (S_ISDIR(sb.st_mode)) {
		if (mount_("tmpfs", p, "tmpfs", MS_RDONLY, "size=0k") < 0)
			return fail(errno, "mount tmpfs");
	} else if (mount_("/dev/null", p, "", MS_BIND, NULL) < 0) {
		return fail(errno, "bind /dev/null");
	}
	return 0;
}

// op_readonly makes a path read-only with a recursive bind onto itself and
// a remount. A path that does not exist needs nothing.
static int op_readonly(struct op *o)
{
	const char *p = s_arg(o, 0);
	if (mount_(p, p, "", MS_BIND | MS_REC, NULL) < 0)
		return errno == ENOENT ? 0 : fail(errno, "bind");
	return remount(p, MS_RDONLY | MS_REC);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

static int op_write_file(struct op *o)
{
	const char *p = s_arg(o, 0);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0);
	if (fd < 0)
		return fail(errno, "open %s", p);
	if (write_all(fd, o->arg[1], o->len[1]) < 0) {
		int e = errno;
		close(fd);
		return fail(e, "write %s", p);
	}
	close(fd);
	return 0;
}

static int op_wait_start(void)
{
	int fd = openat(CSI_FD_STATE_DIR, "exec.fifo", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open exec.fifo");
	if (write(fd, "0", 1) != 1)
		return fail(errno, "write exec.fifo");
	close(fd);
	return 0;
}

// op_lookpath resolves the process's name against PATH, inside the new root.
static int op_lookpath(struct op *o)
{
	const char *name = s_arg(o, 0), *path = s_arg(o, 1);
	if (strchr(name, '/')) {
		snprintf(st.exec_path, sizeof st.exec_path, "%s", name);
		return 0;
	}
	for (const char *d = path; *path;) {
		const char *end = strchrnul(d, ':');
		int dlen = end - d;
		while (dlen > 1 && d[dlen - 1] == '/')
			dlen--;
		char cand[PATH_MAX];
		struct stat sb;
		if (dlen == 0)
			snprintf(cand, sizeof cand, "%s", name); // "" is the current directory
		else
			snprintf(cand, sizeof cand, "%.*s%s%s", dlen, d, d[dlen - 1] == '/' ? "" : "/", name);
		if (stat(cand, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 0111)) {
			snprintf(st.exec_path, sizeof st.exec_path, "%s", cand);
			return 0;
		}
		if (!*end)
			break;
		d = end + 1;
	}
	return fail(0, "\"%s\" not found in PATH %s", name, path);
}

static int op_seccomp(struct op *o)
{
	unsigned long flags = u_arg(o, 0);
	uint32_t n = o->len[1];
	if (n == 0 || n % sizeof(struct sock_filter) || n / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return fail(EINVAL, "bpf program of %u bytes", n);
	struct sock_filter *filter = malloc(n); // aligned, unlike the program buffer
	if (!filter)
		return fail(ENOMEM, "seccomp");
	memcpy(filter, o->arg[1], n);
	struct sock_fprog prog = {.len = n / sizeof(struct sock_filter), .filter = filter};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0)
		return fail(errno, "seccomp(SET_MODE_FILTER, %#lx)", flags);
	return 0;
}

// op_credentials sets the bounding set, ids and capability sets, in the
// order runc does: drop from the bounding set while CAP_SETPCAP is still
// effective, keep capabilities across the uid change, then set them.
static int op_credentials(struct op *o)
{
	uint64_t bnd = u_arg(o, 0), eff = u_arg(o, 1), prm = u_arg(o, 2), inh = u_arg(o, 3), amb = u_arg(o, 4);
	uid_t uid = u_arg(o, 5);
	gid_t gid = u_arg(o, 6);
	int last = 0;
	for (int c = 0; c < 64; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
			break;
		last = c;
	}
	uint64_t all = bnd | eff | prm | inh | amb;
	for (int n = last + 1; n < 64; n++)
		if (all & (1ULL << n))
			return fail(0, "process.capabilities: capability %d is unknown to this kernel (last is %d)", n, last);
	for (int n = 0; n <= last; n++)
		if (!(bnd & (1ULL << n)) && prctl(PR_CAPBSET_DROP, n, 0, 0, 0) < 0)
			return fail(errno, "process.capabilities.bounding: prctl(PR_CAPBSET_DROP, %d)", n);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return fail(errno, "prctl(PR_SET_KEEPCAPS)");
	// Raw system calls: glibc's wrappers would signal other threads (there
	// are none) and check nothing more.
	uint32_t ngroups = o->len[7] / 4;
	gid_t *groups = malloc(ngroups * sizeof(gid_t) + 1);
	if (!groups)
		return fail(ENOMEM, "setgroups");
	if (ngroups)
		memcpy(groups, o->arg[7], ngroups * 4);
	if (syscall(SYS_setgroups, ngroups, groups) < 0)
		return fail(errno, "process.user: setgroups(%u groups)", ngroups);
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		return fail(errno, "process.user: setresgid(%u)", gid);
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		return fail(errno, "process.user: setresuid(%u)", uid);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {
		{.effective = (uint32_t)eff, .permitted = (uint32_t)prm, .inheritable = (uint32_t)inh},
		{.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(prm >> 32), .inheritable = (uint32_t)(inh >> 32)},
	};
	if (syscall(SYS_capset, &hdr, data) < 0)
		return fail(errno, "process.capabilities: capset");
	// The kernel raises an ambient capability only if it is both permitted
	// and inheritable; like runc, raise those and leave the others out.
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return fail(errno, "process.capabilities: prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
	for (int n = 0; n <= last; n++)
		if ((amb & prm & inh & (1ULL << n)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0) < 0)
			return fail(errno, "process.capabilities: prctl(PR_CAP_AMBIENT_RAISE, %d)", n);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return fail(errno, "prctl(PR_SET_KEEPCAPS)");
	return 0;
}

static int op_execve(struct op *o)
{
	uint64_t argc = u_arg(o, 0);
	if (argc == 0 || argc > o->nargs - 1)
		return fail(EINVAL, "exec: malformed argument list");
	uint32_t envc = o->nargs - 1 - argc;
	char **argv = calloc(argc + 1, sizeof(char *)), **envp = calloc(envc + 1, sizeof(char *));
	if (!argv || !envp)
		return fail(ENOMEM, "exec");
	for (uint64_t i = 0; i < argc; i++)
		argv[i] = (char *)o->arg[1 + i];
	for (uint32_t i = 0; i < envc; i++)
		envp[i] = (char *)o->arg[1 + argc + i];
	execve(st.exec_path, argv, envp);
	return fail(errno, "exec %s", st.exec_path);
}

// op_hooks_sync tells the parent the container's namespaces and mounts are
// ready for its createRuntime hooks, and waits until they have run: one
// byte on fd, EOF if the parent gave up.
static int op_hooks_sync(struct op *o)
{
	int fd = (int)u_arg(o, 0);
	if (send_phases("hooks") < 0)
		return fail(errno, "report hooks");
	char c;
	ssize_t n;
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return fail(n < 0 ? errno : EPIPE, "wait for the parent's createRuntime hooks");
	close(fd);
	return 0;
}

// op_hook runs an OCI hook in the container's namespaces: the state JSON
// on its stdin, its stdout and stderr the stage's, killed after the
// timeout. Anything but exit status 0 is a failure.
static int op_hook(struct op *o)
{
	const char *path = s_arg(o, 0);
	uint64_t timeout_ms = u_arg(o, 1), argc = u_arg(o, 3);
	if (argc > o->nargs - 4)
		return fail(EINVAL, "hook: malformed argument list");
	uint32_t envc = o->nargs - 4 - argc;
	char **argv = calloc(argc + 2, sizeof(char *)), **envp = calloc(envc + 1, sizeof(char *));
	if (!argv || !envp)
		return fail(ENOMEM, "hook");
	argv[0] = (char *)path;
	for (uint64_t i = 0; i < argc; i++)
		argv[i] = (char *)o->arg[4 + i];
	for (uint32_t i = 0; i < envc; i++)
		envp[i] = (char *)o->arg[4 + argc + i];
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(errno, "hook %s: pipe", path);
	pid_t pid = fork();
	if (pid < 0)
		return fail(errno, "hook %s: fork", path);
	if (pid == 0) {
		if (dup2(p[0], 0) < 0)
			_exit(126);
		execve(path, argv, envp);
		_exit(127);
	}
	close(p[0]);
	// A hook that does not read its stdin must not kill us with SIGPIPE;
	// the disposition is put back, since execve keeps an ignored signal.
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGPIPE, &ign, &old);
	write_all(p[1], o->arg[2], o->len[2]);
	close(p[1]);
	sigaction(SIGPIPE, &old, NULL);
	free(argv);
	free(envp);
	int64_t deadline = timeout_ms ? now_ns() + (int64_t)timeout_ms * 1000000 : 0;
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, deadline ? WNOHANG : 0);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return fail(errno, "hook %s: wait", path);
		if (r == 0) {
			if (now_ns() > deadline) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				return fail(ETIMEDOUT, "hook %s: killed after its timeout of %llu ms", path,
					    (unsigned long long)timeout_ms);
			}
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return fail(0, "hook %s exited with status %d%s", path, WEXITSTATUS(status),
			    WEXITSTATUS(status) == 127 ? " (or could not be executed)" : "");
	return fail(0, "hook %s killed by signal %d", path, WTERMSIG(status));
}

static int run_op(struct op *o)
{
	switch (o->code) {
	case CSI_MARK: {
		int64_t t = now_ns();
		const char *name = s_arg(o, 0);
		if (*name && st.nspans < MAX_SPANS)
			st.spans[st.nspans++] = (struct span){name, st.last, t};
		st.last = t;
		return 0;
	}
	case CSI_MOUNT:
		if (mount_(s_arg(o, 0), s_arg(o, 1), s_arg(o, 2), u_arg(o, 3), s_arg(o, 4)) < 0)
			return fail(errno, "mount");
		return 0;
	case CSI_CONFIG_MOUNT:
		return op_config_mount(o);
	case CSI_MKDIR_ALL:
		return mkdir_all(s_arg(o, 0));
	case CSI_DEVICE:
		return op_device(o);
	case CSI_SYMLINK:
		if (symlink(s_arg(o, 0), s_arg(o, 1)) < 0 && errno != EEXIST)
			return fail(errno, "symlink %s", s_arg(o, 1));
		return 0;
	case CSI_PTMX:
		return op_ptmx(o);
	case CSI_SWITCH_ROOT:
		return op_switch_root(o);
	case CSI_MASK:
		return op_mask(o);
	case CSI_READONLY:
		return op_readonly(o);
	case CSI_SETHOSTNAME:
		if (sethostname(s_arg(o, 0), strlen(s_arg(o, 0))) < 0)
			return fail(errno, "sethostname");
		return 0;
	case CSI_SETDOMAINNAME:
		if (setdomainname(s_arg(o, 0), strlen(s_arg(o, 0))) < 0)
			return fail(errno, "setdomainname");
		return 0;
	case CSI_WRITE_FILE:
		return op_write_file(o);
	case CSI_REMOUNT:
		return remount(s_arg(o, 0), u_arg(o, 1));
	case CSI_READY:
		if (send_phases("ready") < 0)
			return fail(errno, "report ready");
		return 0;
	case CSI_WAIT_START:
		return op_wait_start();
	case CSI_CLOSE:
		close((int)u_arg(o, 0));
		return 0;
	case CSI_LOOKPATH:
		return op_lookpath(o);
	case CSI_CHDIR:
		if (chdir(s_arg(o, 0)) < 0)
			return fail(errno, "chdir %s", s_arg(o, 0));
		return 0;
	case CSI_RLIMIT: {
		struct {
			uint64_t cur, max;
		} lim = {u_arg(o, 1), u_arg(o, 2)};
		if (syscall(SYS_prlimit64, 0, (int)u_arg(o, 0), &lim, NULL) < 0)
			return fail(errno, "prlimit");
		return 0;
	}
	case CSI_UMASK:
		umask((mode_t)u_arg(o, 0));
		return 0;
	case CSI_SECCOMP:
		return op_seccomp(o);
	case CSI_CREDENTIALS:
		return op_credentials(o);
	case CSI_NO_NEW_PRIVS:
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return fail(errno, "prctl(PR_SET_NO_NEW_PRIVS)");
		return 0;
	case CSI_EXEC_MSG:
		send_phases("exec"); // a filter may deny write: best effort
		return 0;
	case CSI_EXECVE:
		return op_execve(o);
	case CSI_HOOKS_SYNC:
		return op_hooks_sync(o);
	case CSI_HOOK:
		return op_hook(o);
	}
	return fail(EINVAL, "unknown operation %u", o->code);
}

// read_all reads fd until EOF into a buffer with a NUL after the end.
static char *read_all(int fd, size_t *len)
{
	size_t cap = 16384, n = 0;
	char *p = malloc(cap);
	for (;;) {
		if (!p)
			return NULL;
		if (n + 1 == cap) {
			cap *= 2;
			p = realloc(p, cap);
			continue;
		}
		ssize_t r = read(fd, p + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(p);
			return NULL;
		}
		if (r == 0)
			break;
		n += r;
	}
	p[n] = 0;
	*len = n;
	return p;
}

static uint32_t get_u32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

// run reads the program from fd 3 and runs it. It returns only on failure.
static void run(void)
{
	size_t len;
	char *prog = read_all(CSI_FD_BOOTSTRAP, &len);
	if (!prog) {
		fail(errno, "read bootstrap");
		return;
	}
	close(CSI_FD_BOOTSTRAP);
	if (len < 8 || get_u32(prog) != CSI_MAGIC) {
		fail(0, "bootstrap: not an init stage program (%zu bytes)", len);
		return;
	}
	uint32_t nops = get_u32(prog + 4);
	size_t off = 8;
	for (uint32_t i = 0; i < nops; i++) {
		struct op o;
		st.op = i;
		if (len - off < 8) {
			fail(0, "bootstrap: truncated program");
			return;
		}
		o.code = get_u32(prog + off);
		o.nargs = get_u32(prog + off + 4);
		off += 8;
		if (o.nargs > (len - off) / 5) {
			fail(0, "bootstrap: truncated program");
			return;
		}
		o.arg = malloc((o.nargs + 1) * sizeof(char *));
		o.len = malloc((o.nargs + 1) * sizeof(uint32_t));
		if (!o.arg || !o.len) {
			fail(ENOMEM, "bootstrap");
			return;
		}
		// Each argument: u32 length, the bytes, a NUL.
		for (uint32_t a = 0; a < o.nargs; a++) {
			if (len - off < 4) {
				fail(0, "bootstrap: truncated program");
				return;
			}
			uint32_t n = get_u32(prog + off);
			off += 4;
			if (n >= len - off || prog[off + n] != 0) {
				fail(0, "bootstrap: truncated program");
				return;
			}
			o.arg[a] = prog + off;
			o.len[a] = n;
			off += (size_t)n + 1;
		}
		if (!well_formed(&o)) {
			fail(0, "bootstrap: malformed operation %u", o.code);
			return;
		}
		if (run_op(&o) < 0)
			return;
		free(o.arg);
		free(o.len);
	}
	st.op = -1;
	fail(0, "bootstrap: program ended without exec");
}

// csrun_init_stage runs before main (and before the Go runtime) in every
// program that links this package. It does nothing unless this process is
// an init stage csrun started: argv[1] is "init" and _CSRUN_INIT=1.
__attribute__((constructor)) static void csrun_init_stage(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 2 || strcmp(argv[1], "init") != 0)
		return;
	const char *env = getenv(CSI_ENV);
	if (!env || strcmp(env, "1") != 0)
		return;
	st.last = now_ns();
	prctl(PR_SET_NAME, "csrun:init", 0, 0, 0);
	for (int fd = CSI_FD_BOOTSTRAP; fd <= CSI_FD_STATE_DIR; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	run();
	send_error();
	_exit(1);
}
