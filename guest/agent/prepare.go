package agent

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// PrepareGuest readies the guest for every scenario, once, before Run:
// it leaves the initramfs root (container runtimes pivot_root), mounts a
// tmpfs on /run for runtime state and a cgroup2 hierarchy on
// /sys/fs/cgroup (crun and runc need one; nothing else manages it here),
// and makes the /dev/fd, /dev/stdin, /dev/stdout and /dev/stderr links a
// real init (udev, systemd) makes: devtmpfs has none of them, and on 5.10
// kernels crun's and runc's re-exec of their own binary from a file
// descriptor (execveat with AT_EMPTY_PATH) fails with ENOENT without
// /dev/fd (runc issue 2552 is the same failure on a Debian host).
// It returns notes on what it could not do; a scenario that needs it then
// reports itself unsupported.
func PrepareGuest() []string {
	var notes []string
	if err := LeaveInitramfs(); err != nil {
		notes = append(notes, fmt.Sprintf("could not leave the initramfs root (container runtimes will fail to pivot_root): %v", err))
	}
	if err := os.MkdirAll("/run", 0o755); err == nil {
		if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			notes = append(notes, fmt.Sprintf("mount tmpfs on /run: %v", err))
		}
	}
	if err := os.MkdirAll("/sys/fs/cgroup", 0o755); err == nil {
		if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			notes = append(notes, fmt.Sprintf("mount cgroup2 on /sys/fs/cgroup: %v", err))
		}
	}
	// The links: what a real init makes and devtmpfs does not.
	for _, l := range [][2]string{{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}} {
		if err := os.Symlink(l[0], l[1]); err != nil && !os.IsExist(err) {
			notes = append(notes, fmt.Sprintf("symlink %s: %v", l[1], err))
		}
	}
	return notes
}
