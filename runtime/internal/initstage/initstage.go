// Package initstage is csrun's init stage: the code that runs in the new
// namespaces between clone and the container's execve, written in C and
// run from an ELF constructor of the csrun binary, before the Go runtime
// starts, the way runc's nsexec runs before its Go init.
//
// Why C: the init stage is csrun re-executed ("csrun init"), and a Go
// runtime's start-up (threads, heap, package initialisation, decoding the
// configuration again) cost 10.8 ms of csrun's 23 ms, more than everything
// the stage does. The constructor reaches the first operation about as soon
// as a static C program reaches main. The stage is also single-threaded, so
// credentials, capabilities and seccomp apply to the whole process.
//
// Why a program: the parent (Go) does all the thinking. It parses and
// validates config.json, turns every field into operations (mount this
// with these flags, mask that path, set these capability masks) and sends
// them, in order, on fd 3; the C side only executes them. Program records,
// for each operation, the config.json field it comes from, so a failure
// ({"type":"error","op":N,...} on fd 4) becomes an *Error naming the field.
//
// Wire format (native endian; parent and stage are the same binary):
//
//	u32 magic "CSI1", u32 operation count, then per operation:
//	u32 code, u32 argument count, then per argument: u32 length, bytes, NUL
//
// The operation codes and their arguments are in initstage.h. Messages on
// fd 4 are JSON lines: {"type":"ready"|"exec","spans":[...]} and errors.
//
// cgo: this package and runtime/seccomp are csrun's only C. The stage does
// nothing in a process that is not an init stage (argv[1] "init" and
// _CSRUN_INIT=1 in the environment), so linking it is harmless.
//
// The package reads the environment variable _CSRUN_INIT (in C, before main).
package initstage

/*
#cgo CFLAGS: -O2 -Wall
#include <limits.h>
#include <stdlib.h>
#include "initstage.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Env marks a process as an init stage (with argv[1] "init").
const Env = C.CSI_ENV + "=1"

// The file descriptors the parent passes: the program (read until EOF),
// the messages back, and the container's state directory (for exec.fifo).
const (
	FDBootstrap = C.CSI_FD_BOOTSTRAP
	FDSync      = C.CSI_FD_SYNC
	FDStateDir  = C.CSI_FD_STATE_DIR
	FDResume    = C.CSI_FD_RESUME // only with HooksSync
)

// Program is a list of operations for the init stage.
type Program struct {
	buf []byte
	ctx []string // per operation: the field it comes from, for errors
}

// New returns an empty program.
func New() *Program {
	p := &Program{buf: make([]byte, 8, 4096)}
	binary.NativeEndian.PutUint32(p.buf, C.CSI_MAGIC)
	return p
}

type arg []byte

func s(v string) arg { return arg(v) }

func u(v uint64) arg { return binary.NativeEndian.AppendUint64(nil, v) }

func (p *Program) op(code uint32, ctx string, args ...arg) {
	p.buf = binary.NativeEndian.AppendUint32(p.buf, code)
	p.buf = binary.NativeEndian.AppendUint32(p.buf, uint32(len(args)))
	for _, a := range args {
		p.buf = binary.NativeEndian.AppendUint32(p.buf, uint32(len(a)))
		p.buf = append(append(p.buf, a...), 0)
	}
	p.ctx = append(p.ctx, ctx)
	binary.NativeEndian.PutUint32(p.buf[4:], uint32(len(p.ctx)))
}

// Bytes returns the encoded program.
func (p *Program) Bytes() []byte { return p.buf }

// Len returns the number of operations.
func (p *Program) Len() int { return len(p.ctx) }

// Mark ends the current phase, named name, and starts the next; an empty
// name only restarts the clock. The first phase starts when the stage does.
func (p *Program) Mark(name string) { p.op(C.CSI_MARK, "", s(name)) }

// Mount is mount(2); an empty data passes NULL.
func (p *Program) Mount(ctx, src, target, fstype string, flags uintptr, data string) {
	p.op(C.CSI_MOUNT, ctx, s(src), s(target), s(fstype), u(uint64(flags)), s(data))
}

// ConfigMount is one entry of config.json's mounts.
type ConfigMount struct {
	Rootfs string
	Dest   string // clean, absolute, resolved inside Rootfs by the stage
	Source string
	Type   string // "" for a bind mount
	Flags  uintptr
	Data   string
	Bind   bool
	// HostFallback, if set, is bind-mounted instead when mounting Type
	// fails with EPERM, EBUSY or ENODEV (sysfs or cgroup2 in a user namespace).
	HostFallback string
	Propagation  []uintptr // applied in order after the mount
	// AttrSet and AttrClr, if either is set, are applied to the mount and
	// all below it with mount_setattr(2) and AT_RECURSIVE (MOUNT_ATTR_*).
	AttrSet, AttrClr uint64
}

// ConfigMount resolves m.Dest inside the rootfs, creates the mount point,
// mounts (a bind, then a remount for its other flags) and applies the
// propagation flags.
func (p *Program) ConfigMount(ctx string, m ConfigMount) {
	var prop []byte
	for _, f := range m.Propagation {
		prop = binary.NativeEndian.AppendUint64(prop, uint64(f))
	}
	p.op(C.CSI_CONFIG_MOUNT, ctx, s(m.Rootfs), s(m.Dest), s(m.Source), s(m.Type), u(uint64(m.Flags)),
		s(m.Data), u(b2u(m.Bind)), s(m.HostFallback), prop, u(m.AttrSet), u(m.AttrClr))
}

// MkdirAll is os.MkdirAll(path, 0o755).
func (p *Program) MkdirAll(ctx, path string) { p.op(C.CSI_MKDIR_ALL, ctx, s(path)) }

// Device is a device node to create.
type Device struct {
	Rootfs   string
	Path     string // clean, absolute, resolved inside Rootfs by the stage
	HostPath string // bind-mounted from the host in a user namespace
	Mode     uint32 // type and permission bits for mknod
	Dev      uint64
	UID, GID int64 // -1: leave as created
	UserNS   bool
}

// Device creates a device node (replacing whatever is there), or in a user
// namespace, where mknod is refused, bind-mounts the host's node.
func (p *Program) Device(ctx string, d Device) {
	p.op(C.CSI_DEVICE, ctx, s(d.Rootfs), s(d.Path), s(d.HostPath), u(uint64(d.Mode)), u(d.Dev),
		u(uint64(d.UID)), u(uint64(d.GID)), u(b2u(d.UserNS)))
}

// Symlink creates link -> target; an existing link is kept.
func (p *Program) Symlink(ctx, target, link string) { p.op(C.CSI_SYMLINK, ctx, s(target), s(link)) }

// Ptmx points devDir/ptmx at pts/ptmx if devDir/pts/ptmx exists.
func (p *Program) Ptmx(ctx, devDir string) { p.op(C.CSI_PTMX, ctx, s(devDir)) }

// SwitchRoot makes rootfs the root: pivot_root(2) and a detach of the old
// root, or, with noPivot (runc's --no-pivot, for a runtime running on an
// initramfs, where pivot_root fails with EINVAL), a mount --move onto / and
// chroot. A pivot_root failure is an error: there is no silent fallback.
// The ready message says which was used.
func (p *Program) SwitchRoot(ctx, rootfs string, noPivot bool) {
	p.op(C.CSI_SWITCH_ROOT, ctx, s(rootfs), u(b2u(noPivot)))
}

// Mask hides path: /dev/null over a file, an empty read-only tmpfs over a
// directory; nothing if it does not exist.
func (p *Program) Mask(ctx, path string) { p.op(C.CSI_MASK, ctx, s(path)) }

// Readonly bind-mounts path onto itself read-only; nothing if it does not exist.
func (p *Program) Readonly(ctx, path string) { p.op(C.CSI_READONLY, ctx, s(path)) }

// Sethostname is sethostname(2).
func (p *Program) Sethostname(ctx, name string) { p.op(C.CSI_SETHOSTNAME, ctx, s(name)) }

// Setdomainname is setdomainname(2).
func (p *Program) Setdomainname(ctx, name string) { p.op(C.CSI_SETDOMAINNAME, ctx, s(name)) }

// WriteFile writes data to an existing file (sysctl, oom_score_adj).
func (p *Program) WriteFile(ctx, path string, data []byte) {
	p.op(C.CSI_WRITE_FILE, ctx, s(path), data)
}

// Remount remounts path's bind mount with flags added, keeping the flags a
// user namespace may not clear.
func (p *Program) Remount(ctx, path string, flags uintptr) {
	p.op(C.CSI_REMOUNT, ctx, s(path), u(uint64(flags)))
}

// Ready sends {"type":"ready"} with the phases so far.
func (p *Program) Ready() { p.op(C.CSI_READY, "") }

// WaitStart writes to exec.fifo in the state directory (fd 5), which
// blocks until csrun start reads it.
func (p *Program) WaitStart(ctx string) { p.op(C.CSI_WAIT_START, ctx) }

// Close closes a file descriptor.
func (p *Program) Close(fd int) { p.op(C.CSI_CLOSE, "", u(uint64(fd))) }

// LookPath finds the file to execute: name itself if it has a slash, else
// the first regular executable file name in the directories of path.
func (p *Program) LookPath(ctx, name, path string) { p.op(C.CSI_LOOKPATH, ctx, s(name), s(path)) }

// Chdir is chdir(2).
func (p *Program) Chdir(ctx, dir string) { p.op(C.CSI_CHDIR, ctx, s(dir)) }

// Rlimit sets a resource limit (prlimit(2)).
func (p *Program) Rlimit(ctx string, resource int, soft, hard uint64) {
	p.op(C.CSI_RLIMIT, ctx, u(uint64(resource)), u(soft), u(hard))
}

// Umask is umask(2).
func (p *Program) Umask(mask uint32) { p.op(C.CSI_UMASK, "", u(uint64(mask))) }

// Seccomp installs a BPF program (raw sock_filter instructions) with
// seccomp(SECCOMP_SET_MODE_FILTER, flags).
func (p *Program) Seccomp(ctx string, flags uint, prog []byte) {
	p.op(C.CSI_SECCOMP, ctx, u(uint64(flags)), prog)
}

// Credentials are the process's capability sets (bit n = capability n)
// and ids.
type Credentials struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
	UID, GID                                             uint32
	Groups                                               []uint32
}

// Credentials checks the capabilities against the kernel's last one, drops
// the bounding set, sets groups, gid and uid keeping capabilities, then
// sets the capability sets and raises the ambient ones that are permitted
// and inheritable.
func (p *Program) Credentials(ctx string, c Credentials) {
	var groups []byte
	for _, g := range c.Groups {
		groups = binary.NativeEndian.AppendUint32(groups, g)
	}
	p.op(C.CSI_CREDENTIALS, ctx, u(c.Bounding), u(c.Effective), u(c.Permitted), u(c.Inheritable),
		u(c.Ambient), u(uint64(c.UID)), u(uint64(c.GID)), groups)
}

// NoNewPrivs sets no_new_privs.
func (p *Program) NoNewPrivs(ctx string) { p.op(C.CSI_NO_NEW_PRIVS, ctx) }

// ExecMsg sends {"type":"exec"} with the phases since Ready (best effort:
// a seccomp filter may deny the write).
func (p *Program) ExecMsg() { p.op(C.CSI_EXEC_MSG, "") }

// Execve executes the file LookPath found with argv and env. The sync
// pipe is close-on-exec: the parent sees EOF.
func (p *Program) Execve(ctx string, argv, env []string) {
	args := []arg{u(uint64(len(argv)))}
	for _, a := range argv {
		args = append(args, s(a))
	}
	for _, e := range env {
		args = append(args, s(e))
	}
	p.op(C.CSI_EXECVE, ctx, args...)
}

// HooksSync sends {"type":"hooks"} with the phases so far and waits for
// one byte on fd: the parent runs the createRuntime hooks meanwhile.
func (p *Program) HooksSync(ctx string, fd int) { p.op(C.CSI_HOOKS_SYNC, ctx, u(uint64(fd))) }

// Hook runs an OCI hook from the stage: path executed with args (args[0]
// is argv[0]; none: path) and env, state on its stdin, killed after
// timeoutMS (0: no limit); it fails unless the hook exits 0.
func (p *Program) Hook(ctx, path string, args, env []string, timeoutMS uint64, state []byte) {
	a := []arg{s(path), u(timeoutMS), state, u(uint64(len(args)))}
	for _, v := range args {
		a = append(a, s(v))
	}
	for _, v := range env {
		a = append(a, s(v))
	}
	p.op(C.CSI_HOOK, ctx, a...)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Error is a failure the init stage reported.
type Error struct {
	Op      int    // index of the failed operation, -1 if none
	Context string // the config.json field it comes from, if any
	Detail  string // what failed
	Errno   unix.Errno
}

func (e *Error) Error() string {
	msg := e.Detail
	if e.Errno != 0 {
		msg = fmt.Sprintf("%s: %v", msg, e.Errno)
	}
	if e.Context != "" {
		msg = e.Context + ": " + msg
	}
	return msg
}

// Unwrap returns the errno, so that errors.Is(err, unix.EPERM) works.
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// Err turns what the stage reported about operation op into an *Error.
func (p *Program) Err(op, errno int, detail string) *Error {
	e := &Error{Op: op, Detail: detail, Errno: unix.Errno(errno)}
	if op >= 0 && op < len(p.ctx) {
		e.Context = p.ctx[op]
	}
	return e
}

// resolveIn is the stage's resolution of a mount destination inside the
// rootfs (symlinks followed as if root were "/"), for tests.
func resolveIn(root, path string) (string, error) {
	croot, cpath := C.CString(root), C.CString(path)
	defer C.free(unsafe.Pointer(croot))
	defer C.free(unsafe.Pointer(cpath))
	var out [C.PATH_MAX]C.char
	var detail [256]C.char
	if C.csi_resolve_in(croot, cpath, &out[0], C.size_t(len(out)), &detail[0], C.size_t(len(detail))) < 0 {
		return "", errors.New(C.GoString(&detail[0]))
	}
	return C.GoString(&out[0]), nil
}
