package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// LeaveInitramfs moves the guest from the initramfs root (rootfs) onto a
// tmpfs, as switch_root does: the kernel refuses pivot_root(2) while the
// current root is rootfs (EINVAL), and every container runtime pivots into
// its bundle. The initramfs content is copied (it is a few tens of MB at
// most), the mounts u-root's init made (/proc, /sys, /dev, ...) are moved
// along, and the agent chroots into the new root. Mounts are made private so
// that nothing a scenario mounts propagates.
func LeaveInitramfs() error {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return fmt.Errorf("statfs /: %w", err)
	}
	if st.Type != unix.RAMFS_MAGIC && st.Type != unix.TMPFS_MAGIC {
		return nil // already on a real root
	}
	if _, err := os.Stat("/.coldstart-root"); err == nil {
		return nil // done before
	}
	const newRoot = "/.newroot"
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount a tmpfs for the new root: %w", err)
	}
	mounts, err := topMounts()
	if err != nil {
		return err
	}
	skip := map[string]bool{newRoot: true}
	for _, m := range mounts {
		skip[m] = true
	}
	if err := copyTree("/", newRoot, skip); err != nil {
		return fmt.Errorf("copy the initramfs to the new root: %w", err)
	}
	for _, m := range mounts {
		dst := filepath.Join(newRoot, m)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m, dst, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move mount %s: %w", m, err)
		}
	}
	if err := os.WriteFile(filepath.Join(newRoot, ".coldstart-root"), nil, 0o644); err != nil {
		return err
	}
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move the new root over /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot into the new root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return nil
}

// topMounts lists the mount points directly under / (not / itself), from
// /proc/self/mountinfo, outermost first.
func topMounts() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := f[4]
		if mp == "/" || strings.HasPrefix(mp, "/.newroot") {
			continue
		}
		top := "/" + strings.SplitN(strings.TrimPrefix(mp, "/"), "/", 2)[0]
		if top == mp && !seen[mp] {
			// Moving a top-level mount moves the ones beneath it too.
			seen[mp] = true
			out = append(out, mp)
		}
	}
	return out, nil
}

func copyTree(src, dst string, skip map[string]bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != src && skip[p] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel == "." {
				return nil
			}
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case info.Mode().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		case info.Mode()&fs.ModeDevice != 0:
			st := info.Sys().(*unix.Stat_t)
			mode := uint32(unix.S_IFCHR)
			if info.Mode()&fs.ModeCharDevice == 0 {
				mode = unix.S_IFBLK
			}
			err := unix.Mknod(target, mode|uint32(info.Mode().Perm()), int(st.Rdev))
			if errors.Is(err, unix.EEXIST) {
				return nil
			}
			return err
		default:
			return nil // sockets, fifos: none worth keeping
		}
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
