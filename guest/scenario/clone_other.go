//go:build linux && !amd64

package scenario

import "golang.org/x/sys/unix"

// cloneSupported reports whether rawClone is implemented on this GOARCH.
const cloneSupported = false

// rawClone is implemented in assembly on amd64 only.
func rawClone(flags, mode, page, rfd, wfd uintptr) (ret int64) {
	return -int64(unix.ENOSYS)
}
