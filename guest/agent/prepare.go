package agent

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// PrepareGuest readies the guest for every scenario, once, before Run:
// it leaves the initramfs root (container runtimes pivot_root), mounts a
// tmpfs on /run for runtime state and a cgroup2 hierarchy on
// /sys/fs/cgroup (crun and runc need one; nothing else manages it here).
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
	return notes
}
