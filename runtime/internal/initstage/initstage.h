/* Operation codes of the init stage's program: shared by the C interpreter
 * (initstage.c) and the Go encoder (initstage.go, through cgo). Arguments
 * are listed as the encoder sends them: s = string, u = uint64, b = bytes. */
#ifndef CSRUN_INITSTAGE_H
#define CSRUN_INITSTAGE_H

#define CSI_MAGIC 0x31495343u /* "CSI1", little endian */

enum csi_op {
	CSI_MARK = 1,      /* s name: close the current phase ("" = restart the clock) */
	CSI_MOUNT,         /* s src, s target, s fstype, u flags, s data: mount(2) */
	CSI_CONFIG_MOUNT,  /* s rootfs, s dest, s src, s fstype, u flags, s data, u bind,
	                      s host fallback, b propagation flags (u64 each),
	                      u mount_setattr attr_set, u attr_clr (recursive; 0, 0: none) */
	CSI_MKDIR_ALL,     /* s path */
	CSI_DEVICE,        /* s rootfs, s path, s host path, u mode, u dev, u uid, u gid (-1: keep), u userns */
	CSI_SYMLINK,       /* s target, s link (EEXIST is fine) */
	CSI_PTMX,          /* s dev dir: /dev/ptmx -> pts/ptmx if devpts is there */
	CSI_SWITCH_ROOT,   /* s rootfs, u no pivot: pivot_root, or (no pivot) MS_MOVE + chroot */
	CSI_MASK,          /* s path */
	CSI_READONLY,      /* s path */
	CSI_SETHOSTNAME,   /* s name */
	CSI_SETDOMAINNAME, /* s name */
	CSI_WRITE_FILE,    /* s path, b data */
	CSI_REMOUNT,       /* s path, u flags (keeping the locked ones) */
	CSI_READY,         /* send {"type":"ready"} with the phases so far */
	CSI_WAIT_START,    /* write "0" to exec.fifo in the state dir (blocks until start) */
	CSI_CLOSE,         /* u fd */
	CSI_LOOKPATH,      /* s name, s PATH */
	CSI_CHDIR,         /* s dir */
	CSI_RLIMIT,        /* u resource, u soft, u hard */
	CSI_UMASK,         /* u mask */
	CSI_SECCOMP,       /* u flags, b sock_filter program */
	CSI_CREDENTIALS,   /* u bounding, u effective, u permitted, u inheritable, u ambient,
	                      u uid, u gid, b groups (u32 each) */
	CSI_NO_NEW_PRIVS,  /* */
	CSI_EXEC_MSG,      /* send {"type":"exec"} with the phases since ready (best effort) */
	CSI_EXECVE,        /* u argc, s argv..., s env...: execve the looked-up path */
	CSI_HOOKS_SYNC,    /* u fd: send {"type":"hooks"} with the phases so far, wait for a byte on fd */
	CSI_HOOK,          /* s path, u timeout ms (0: none), b state JSON, u argc, s argv..., s env...:
	                      fork, state on stdin, execve, wait; fail unless it exits 0 */
	CSI_OP_MAX
};

/* File descriptors the parent passes. */
#define CSI_FD_BOOTSTRAP 3
#define CSI_FD_SYNC 4
#define CSI_FD_STATE_DIR 5
#define CSI_FD_RESUME 6 /* only with hooks: the parent's go-ahead after createRuntime */

/* The init stage runs when argv[1] is "init" and this variable is "1". */
#define CSI_ENV "_CSRUN_INIT"

#include <stddef.h>
int csi_resolve_in(const char *root, const char *path, char *out, size_t size, char *detail, size_t dsize);

#endif
