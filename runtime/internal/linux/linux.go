// Package linux owns the raw system calls csrun makes that golang.org/x/sys
// does not wrap the way csrun needs: installing a BPF program with
// seccomp(2), setting capability sets for the calling thread, and reading
// CLOCK_MONOTONIC as an absolute value shared by all stages.
//
// Every function here acts on the calling OS thread only; callers lock the
// goroutine to its thread (runtime.LockOSThread) and exec from it.
//
// The package reads no environment variables.
package linux

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Monotonic returns CLOCK_MONOTONIC in nanoseconds. Unlike time.Now's
// monotonic reading it is comparable across processes.
func Monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// SockFilterSize is the size of one classic BPF instruction (struct sock_filter).
const SockFilterSize = 8

// MaxInsns is the kernel's BPF_MAXINSNS.
const MaxInsns = 4096

// ValidateBPF checks that prog looks like a sequence of sock_filter
// instructions the kernel could accept.
func ValidateBPF(prog []byte) error {
	n := len(prog) / SockFilterSize
	if len(prog) == 0 || len(prog)%SockFilterSize != 0 || n > MaxInsns {
		return fmt.Errorf("bpf program of %d bytes: not a whole number (1..%d) of %d-byte instructions", len(prog), MaxInsns, SockFilterSize)
	}
	// The last instruction of a seccomp filter must be a return
	// (BPF_RET = 0x06 in the low three bits of the class).
	if code := binary.NativeEndian.Uint16(prog[len(prog)-SockFilterSize:]); code&0x07 != 0x06 {
		return fmt.Errorf("bpf program does not end with a return instruction (code %#x)", code)
	}
	return nil
}

// LoadSeccomp installs prog (raw sock_filter array) as a seccomp filter on
// the calling thread with seccomp(SECCOMP_SET_MODE_FILTER, flags). The caller
// must have set no_new_privs or hold CAP_SYS_ADMIN.
func LoadSeccomp(prog []byte, flags uint) error {
	if err := ValidateBPF(prog); err != nil {
		return err
	}
	fprog := struct {
		len    uint16
		_      [6]byte
		filter unsafe.Pointer
	}{len: uint16(len(prog) / SockFilterSize), filter: unsafe.Pointer(&prog[0])}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, 1 /* SECCOMP_SET_MODE_FILTER */, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER, %#x): %w", flags, errno)
	}
	return nil
}

// SetNoNewPrivs sets no_new_privs on the calling thread.
func SetNoNewPrivs() error {
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", e)
	}
	return nil
}

// Caps holds the five capability sets as bit masks (bit n = capability n).
type Caps struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// LastCap reads /proc/sys/kernel/cap_last_cap, the highest capability the
// kernel knows; it falls back to probing the bounding set.
func LastCap() int {
	last := 0
	for c := 0; c < 64; c++ {
		if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, uintptr(c), 0); e != 0 {
			break
		}
		last = c
	}
	return last
}

// DropBounding drops from the bounding set every capability not in
// c.Bounding. It needs CAP_SETPCAP: call it before changing uid.
func DropBounding(c Caps, lastCap int) error {
	for n := 0; n <= lastCap; n++ {
		if c.Bounding&(1<<n) != 0 {
			continue
		}
		if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(n), 0); e != 0 {
			return fmt.Errorf("prctl(PR_CAPBSET_DROP, %d): %w", n, e)
		}
	}
	return nil
}

// ApplyCaps sets effective, permitted and inheritable with capset(2), then the
// ambient set. The kernel raises an ambient capability only if it is both
// permitted and inheritable; like runc, csrun raises those and leaves the
// others out (runc spec's default config lists ambient capabilities with
// no inheritable set). Only the calling thread changes.
//
// DropBounding must have been called first, while CAP_SETPCAP was effective.
func ApplyCaps(c Caps, lastCap int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(c.Effective), Permitted: uint32(c.Permitted), Inheritable: uint32(c.Inheritable)},
		{Effective: uint32(c.Effective >> 32), Permitted: uint32(c.Permitted >> 32), Inheritable: uint32(c.Inheritable >> 32)},
	}
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", e)
	}
	for n := 0; n <= lastCap; n++ {
		if c.Ambient&c.Permitted&c.Inheritable&(1<<n) == 0 {
			continue
		}
		if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0, 0); e != 0 {
			return fmt.Errorf("prctl(PR_CAP_AMBIENT_RAISE, %d): %w", n, e)
		}
	}
	return nil
}

// SetKeepCaps sets or clears PR_SET_KEEPCAPS on the calling thread.
func SetKeepCaps(on bool) error {
	v := uintptr(0)
	if on {
		v = 1
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, v, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", e)
	}
	return nil
}

// SetIDs sets supplementary groups, then gid, then uid, on the calling
// thread only (raw system calls: the thread execs right after).
func SetIDs(uid, gid uint32, groups []uint32) error {
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("setgroups(%v): %w", groups, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid(%d): %w", gid, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid(%d): %w", uid, e)
	}
	return nil
}

// SetName sets the calling thread's name (comm, as ps shows it).
func SetName(name string) {
	b := make([]byte, 16)
	copy(b[:15], name)
	unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0)
}
