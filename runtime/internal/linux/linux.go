// Package linux owns the raw system calls csrun's Go code makes that
// golang.org/x/sys does not wrap the way csrun needs: checking and
// installing a BPF program with seccomp(2), and reading CLOCK_MONOTONIC as
// an absolute value shared by all stages. (The init stage's credentials,
// capabilities and seccomp are C: runtime/internal/initstage.)
//
// LoadSeccomp and SetNoNewPrivs act on the calling OS thread only; callers
// lock the goroutine to its thread (runtime.LockOSThread) or exit soon after.
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
