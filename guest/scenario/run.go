package scenario

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"coldstart/event"
)

// Child modes of rawClone (also used by clone_amd64.s through go_asm.h).
const (
	modeExit  = 0 // exit_group(0) at once
	modeMount = 1 // time a mount of mqueue, store the result, exit_group(0)
	modeWait  = 2 // tests: close(wfd), read(rfd, 1 byte), exit_group(0 or 1)
)

// Layout of the page the child may write to (and read strings from).
const (
	pageSize  = 4096
	offT0     = 0   // struct timespec before the mount
	offT1     = 16  // struct timespec after the mount
	offResult = 32  // int64: mount's return value (0 or -errno)
	offByte   = 40  // modeWait's read buffer
	offSrc    = 64  // "mqueue\0"
	offFstype = 128 // "mqueue\0"
	offTarget = 256 // mount point, NUL-terminated
)

// sigAll is the signal mask blocked around the clone: every signal.
var sigAll = ^uint64(0)

// mountDirName is the mqueue mount point's name under os.TempDir().
const mountDirName = "coldstart-mqueue"

// prep is what Prepare established.
var prep struct {
	sync.Mutex
	target  string          // mqueue mount point
	private map[uint64]bool // mount namespaces (nsfs inode) made private
}

// Prepare readies the process for the mqueue scenario: it makes "/"
// recursively private (mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)) in
// the calling thread's mount namespace, so that mounts in child namespaces
// never propagate back, and creates the mount point under os.TempDir().
// Call it once per process in the guest, before running scenarios; it is
// idempotent. Do not call it on a host whose mount propagation matters
// (tests call it in a throwaway mount namespace).
func Prepare() error {
	runtime.LockOSThread() // the namespace we make private is the one we record
	defer runtime.UnlockOSThread()
	prep.Lock()
	defer prep.Unlock()
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("scenario: make / recursively private: mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE): %s: %w",
			unix.ErrnoName(errnoOf(err)), err)
	}
	dir := filepath.Join(os.TempDir(), mountDirName)
	if len(dir)+1 > pageSize-offTarget {
		return fmt.Errorf("scenario: mount point %q too long", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	ns, err := mountNS()
	if err != nil {
		return err
	}
	if prep.private == nil {
		prep.private = make(map[uint64]bool)
	}
	prep.private[ns] = true
	prep.target = dir
	return nil
}

// mountNS identifies the calling thread's mount namespace.
func mountNS() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/mnt", &st); err != nil {
		return 0, fmt.Errorf("scenario: identify mount namespace: %w", err)
	}
	return st.Ino, nil
}

// Run runs one iteration of the scenario in a fresh child process. The
// mqueue scenario needs Prepare first. Errors are an *UnsupportedError when
// the kernel lacks what the scenario needs, and otherwise name the failing
// call and its errno.
func (s Scenario) Run() (event.Sample, error) {
	sp, err := lookupSpec(s.Name)
	if err != nil {
		return event.Sample{}, err
	}
	if !cloneSupported {
		return event.Sample{}, s.check("/proc")
	}
	if sp.mount {
		return sp.runMount()
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, t0, t1, err := clone(sp.flags, modeExit, 0, -1, -1)
	if err != nil {
		return event.Sample{}, sp.cloneError(err)
	}
	ws, ru, err := reap(pid)
	t2 := time.Now()
	if err != nil {
		return event.Sample{}, fmt.Errorf("scenario %s: %w", sp.Name, err)
	}
	if err := childError(sp.Name, ws); err != nil {
		return event.Sample{}, err
	}
	return event.Sample{
		WallNS: t2.Sub(t0).Nanoseconds(),
		OpNS:   t1.Sub(t0).Nanoseconds(),
		UserNS: ru.Utime.Nano(),
		SysNS:  ru.Stime.Nano(),
	}, nil
}

func (sp *spec) runMount() (event.Sample, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	ns, err := mountNS()
	if err != nil {
		return event.Sample{}, err
	}
	prep.Lock()
	target, private := prep.target, prep.private[ns]
	prep.Unlock()
	if !private {
		return event.Sample{}, fmt.Errorf("scenario %s: Prepare has not made this mount namespace private: "+
			"the child's mount could propagate into it", sp.Name)
	}

	page, err := unix.Mmap(-1, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return event.Sample{}, fmt.Errorf("scenario %s: mmap: %w", sp.Name, err)
	}
	defer unix.Munmap(page)
	// Writing the strings also faults the page in: the child takes no
	// page fault inside its timed window.
	copy(page[offSrc:], "mqueue\x00")
	copy(page[offFstype:], "mqueue\x00")
	copy(page[offTarget:], target+"\x00")
	binary.NativeEndian.PutUint64(page[offResult:], uint64(1)) // "not written"

	pid, t0, _, err := clone(sp.flags, modeMount, uintptr(unsafe.Pointer(&page[0])), -1, -1)
	if err != nil {
		return event.Sample{}, sp.cloneError(err)
	}
	ws, ru, err := reap(pid)
	t2 := time.Now()
	if err != nil {
		return event.Sample{}, fmt.Errorf("scenario %s: %w", sp.Name, err)
	}
	if err := childError(sp.Name, ws); err != nil {
		return event.Sample{}, err
	}
	switch res := int64(binary.NativeEndian.Uint64(page[offResult:])); {
	case res == 1:
		return event.Sample{}, fmt.Errorf("scenario %s: the child exited without reporting the mount's result", sp.Name)
	case res == -int64(unix.ENODEV):
		return event.Sample{}, &UnsupportedError{Scenario: sp.Name, Option: fsMqueue.option, Detail: "mount returned ENODEV"}
	case res < 0:
		e := unix.Errno(-res)
		return event.Sample{}, fmt.Errorf("scenario %s: mount(\"mqueue\", %q, \"mqueue\", 0, NULL) in the child: %s: %w",
			sp.Name, target, unix.ErrnoName(e), e)
	}
	return event.Sample{
		WallNS: t2.Sub(t0).Nanoseconds(),
		OpNS:   timespecNS(page[offT1:]) - timespecNS(page[offT0:]),
		UserNS: ru.Utime.Nano(),
		SysNS:  ru.Stime.Nano(),
	}, nil
}

func timespecNS(b []byte) int64 {
	sec := int64(binary.NativeEndian.Uint64(b[0:]))
	nsec := int64(binary.NativeEndian.Uint64(b[8:]))
	return sec*1e9 + nsec
}

// clone starts a child with CLONE_VM|flags|SIGCHLD that runs rawClone's
// register-only code for mode. It blocks every signal on the calling thread
// for the duration of the clone, so the child starts with every signal
// blocked, and restores the thread's mask before returning. t0 and t1
// bracket the clone system call. The caller must hold runtime.LockOSThread.
func clone(flags, mode, page uintptr, rfd, wfd int) (pid int, t0, t1 time.Time, err error) {
	var old uint64
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&sigAll)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return 0, t0, t1, fmt.Errorf("rt_sigprocmask: %w", e)
	}
	t0 = time.Now()
	r := rawClone(unix.CLONE_VM|flags|uintptr(unix.SIGCHLD), mode, page, uintptr(rfd), uintptr(wfd))
	t1 = time.Now()
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0); e != 0 {
		// Cannot happen with valid arguments; a thread left with every
		// signal blocked would break the Go runtime.
		panic("scenario: restore signal mask: " + e.Error())
	}
	if r < 0 {
		return 0, t0, t1, unix.Errno(-r)
	}
	return int(r), t0, t1, nil
}

// reap waits for pid and returns its status and rusage.
func reap(pid int) (unix.WaitStatus, unix.Rusage, error) {
	var ws unix.WaitStatus
	var ru unix.Rusage
	for {
		_, err := unix.Wait4(pid, &ws, 0, &ru)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ws, ru, fmt.Errorf("wait4(%d): %s: %w", pid, unix.ErrnoName(errnoOf(err)), err)
		}
		return ws, ru, nil
	}
}

func childError(name string, ws unix.WaitStatus) error {
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Exited():
		return fmt.Errorf("scenario %s: child exited with status %d", name, ws.ExitStatus())
	case ws.Signaled():
		return fmt.Errorf("scenario %s: child killed by %s", name, unix.SignalName(ws.Signal()))
	default:
		return fmt.Errorf("scenario %s: child ended with wait status %#x", name, uint32(ws))
	}
}

// cloneError turns a failed clone into an *UnsupportedError when there is
// evidence that the kernel (or a sysctl) does not allow the namespaces, and
// into a plain error naming the errno otherwise.
func (sp *spec) cloneError(err error) error { return sp.cloneErrorIn("/proc", err) }

// cloneErrorIn is cloneError with the proc file system at proc.
//
// EINVAL alone is no such evidence: clone returns it for a kernel built
// without a namespace type, but also for flag combinations the kernel
// refuses, and a kernel change that breaks namespace creation returns it
// too. Calling that "unsupported" would let a broken kernel pass CI, so
// EINVAL is unsupported only when the namespace type is absent
// (/proc/self/ns/<name> missing: Check's evidence), and a failure
// otherwise.
func (sp *spec) cloneErrorIn(proc string, err error) error {
	e := errnoOf(err)
	call := "clone(" + flagNames(unix.CLONE_VM|sp.flags|uintptr(unix.SIGCHLD)) + ")"
	switch e {
	case unix.EINVAL:
		var ue *UnsupportedError
		cerr := sp.check(proc)
		if errors.As(cerr, &ue) {
			ue.Detail += "; " + call + " returned EINVAL"
			return ue
		}
		if cerr != nil {
			return fmt.Errorf("scenario %s: %s: EINVAL, and the namespaces could not be checked (%v): %w", sp.Name, call, cerr, err)
		}
		return fmt.Errorf("scenario %s: %s: EINVAL although the kernel has these namespaces (%s): %w",
			sp.Name, call, sp.nsFiles(proc), err)
	case unix.ENOSPC:
		for _, n := range sp.needs {
			if n.ns == "" {
				continue
			}
			if zero, sysctl := maxNamespacesZero(proc, n.ns); zero {
				return &UnsupportedError{Scenario: sp.Name, Option: sysctl, Detail: "the sysctl is 0; " + call + " returned ENOSPC"}
			}
		}
		return fmt.Errorf("scenario %s: %s: ENOSPC (a user.max_*_namespaces limit reached; "+
			"namespaces freed from a work queue may lag behind their exits): %w", sp.Name, call, err)
	}
	if e == 0 {
		return fmt.Errorf("scenario %s: %s: %w", sp.Name, call, err)
	}
	return fmt.Errorf("scenario %s: %s: %s: %w", sp.Name, call, unix.ErrnoName(e), err)
}

// nsFiles lists the /proc/self/ns files that show the scenario's
// namespace types exist.
func (sp *spec) nsFiles(proc string) string {
	var fs []string
	for _, n := range sp.needs {
		if n.ns != "" {
			fs = append(fs, filepath.Join(proc, "self", "ns", n.ns))
		}
	}
	return strings.Join(fs, ", ") + " exist"
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	errors.As(err, &e)
	return e
}

var flagNameList = []struct {
	flag uintptr
	name string
}{
	{unix.CLONE_VM, "CLONE_VM"},
	{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{unix.CLONE_NEWNET, "CLONE_NEWNET"},
	{unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
}

// flagNames renders clone flags as "CLONE_VM|CLONE_NEWNET|SIGCHLD".
func flagNames(flags uintptr) string {
	var parts []string
	for _, f := range flagNameList {
		if flags&f.flag != 0 {
			parts = append(parts, f.name)
			flags &^= f.flag
		}
	}
	if flags&0xff == uintptr(unix.SIGCHLD) {
		parts = append(parts, "SIGCHLD")
		flags &^= 0xff
	}
	if flags != 0 {
		parts = append(parts, fmt.Sprintf("%#x", flags))
	}
	return strings.Join(parts, "|")
}
