package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

type mounter struct {
	rootfs string
	spec   *specs.Spec
	userNS bool
}

// mountFlags are the fstab options that are flags; the bool says whether
// the option clears the flag.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"async": {true, unix.MS_SYNCHRONOUS}, "atime": {true, unix.MS_NOATIME},
	"bind": {false, unix.MS_BIND}, "defaults": {false, 0}, "dev": {true, unix.MS_NODEV},
	"diratime": {true, unix.MS_NODIRATIME}, "dirsync": {false, unix.MS_DIRSYNC},
	"exec": {true, unix.MS_NOEXEC}, "mand": {false, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "nodev": {false, unix.MS_NODEV},
	"nodiratime": {false, unix.MS_NODIRATIME}, "noexec": {false, unix.MS_NOEXEC},
	"nomand": {true, unix.MS_MANDLOCK}, "norelatime": {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME}, "nosuid": {false, unix.MS_NOSUID},
	"rbind": {false, unix.MS_BIND | unix.MS_REC}, "relatime": {false, unix.MS_RELATIME},
	"remount": {false, unix.MS_REMOUNT}, "ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"silent": {false, unix.MS_SILENT}, "strictatime": {false, unix.MS_STRICTATIME},
	"suid": {true, unix.MS_NOSUID}, "sync": {false, unix.MS_SYNCHRONOUS},
	"loud": {true, unix.MS_SILENT},
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseOptions splits fstab options into flags, propagation flags and data.
func parseOptions(opts []string) (flags uintptr, prop []uintptr, data string) {
	var d []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			prop = append(prop, p)
			continue
		}
		d = append(d, o)
	}
	return flags, prop, strings.Join(d, ",")
}

// resolveIn resolves path inside root, following symlinks as if root were
// "/", so that a malicious rootfs cannot point a mount outside itself.
func resolveIn(root, path string) (string, error) {
	var resolved string // relative to root, clean, no leading slash
	rest := strings.Split(filepath.Clean("/"+path), "/")
	for links := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			resolved = filepath.Dir("/" + resolved)[1:]
			continue
		}
		next := filepath.Join(resolved, c)
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			resolved = next // not a symlink, or does not exist yet
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", path)
		}
		if filepath.IsAbs(target) {
			resolved = ""
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, resolved), nil
}

func (m *mounter) setupRootfs() error {
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p := m.spec.Linux.RootfsPropagation; p != "" {
		prop = propagationFlags[p]
	}
	// Keep our mounts from propagating to the host. MS_SHARED here would
	// leak, so apply it to the new root only, after the switch.
	if prop&unix.MS_SHARED != 0 {
		prop = unix.MS_SLAVE | unix.MS_REC
	}
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("linux.rootfsPropagation: make / %#x: %w", prop, err)
	}
	if err := unix.Mount(m.rootfs, m.rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("root.path: bind onto itself: %w", err)
	}
	devBind := false
	for i, mnt := range m.spec.Mounts {
		if err := m.mountOne(mnt); err != nil {
			return fmt.Errorf("mounts[%d] (%s on %s): %w", i, mnt.Type, mnt.Destination, err)
		}
		if filepath.Clean(mnt.Destination) == "/dev" && isBind(mnt) {
			devBind = true
		}
	}
	if !devBind {
		if err := m.setupDev(); err != nil {
			return fmt.Errorf("/dev: %w", err)
		}
	}
	for i, d := range m.spec.Linux.Devices {
		if err := m.makeDevice(d); err != nil {
			return fmt.Errorf("linux.devices[%d] %s: %w", i, d.Path, err)
		}
	}
	return nil
}

func isBind(mnt specs.Mount) bool {
	if mnt.Type == "bind" {
		return true
	}
	for _, o := range mnt.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

func (m *mounter) mountOne(mnt specs.Mount) error {
	dest, err := resolveIn(m.rootfs, mnt.Destination)
	if err != nil {
		return err
	}
	flags, prop, data := parseOptions(mnt.Options)
	bind := isBind(mnt)
	fstype := mnt.Type
	src := mnt.Source
	if bind {
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		if err := mkTarget(dest, fi.IsDir()); err != nil {
			return err
		}
		fstype = ""
	} else if err := mkTarget(dest, true); err != nil {
		return err
	}
	if fstype == "cgroup" {
		fstype = "cgroup2"
	}
	if src == "" {
		src = fstype
	}
	if fstype == "mqueue" || fstype == "proc" || fstype == "sysfs" || fstype == "cgroup2" {
		data = "" // these take no data worth passing; options are flags
	}
	if bind {
		// Flags other than MS_BIND|MS_REC are ignored by a bind: remount.
		if err := unix.Mount(src, dest, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return err
		}
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			if err := remount(dest, rest); err != nil {
				return err
			}
		}
	} else if err := unix.Mount(src, dest, fstype, flags, data); err != nil {
		// In a user namespace sysfs and cgroup2 may be refused (the net or
		// cgroup namespace is not ours): bind the host's, as runc does.
		host := map[string]string{"sysfs": "/sys", "cgroup2": "/sys/fs/cgroup"}[fstype]
		if host == "" || !(errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENODEV)) {
			return err
		}
		if err2 := unix.Mount(host, dest, "", unix.MS_BIND|unix.MS_REC, ""); err2 != nil {
			return fmt.Errorf("%w; bind of host %s: %w", err, host, err2)
		}
		if err2 := remount(dest, flags&^unix.MS_REMOUNT); err2 != nil {
			return err2
		}
	}
	for _, p := range prop {
		if err := unix.Mount("", dest, "", p, ""); err != nil {
			return fmt.Errorf("propagation %#x: %w", p, err)
		}
	}
	return nil
}

// remount applies flags to a bind mount, keeping the flags a user namespace
// may not clear (nosuid, nodev, noexec, atime ones) from the mount as it is.
func remount(dest string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dest, &st); err != nil {
		return err
	}
	locked := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	return unix.Mount("", dest, "", unix.MS_BIND|unix.MS_REMOUNT|flags|locked, "")
}

func mkTarget(dest string, dir bool) error {
	if dir {
		return os.MkdirAll(dest, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// setupDev populates a /dev the config did not bind from the host: the
// default devices, the standard symlinks and /dev/ptmx.
func (m *mounter) setupDev() error {
	dev := filepath.Join(m.rootfs, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	for _, d := range defaultDevices {
		if err := m.makeDevice(d); err != nil {
			return fmt.Errorf("%s: %w", d.Path, err)
		}
	}
	for link, target := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, filepath.Join(dev, link)); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(dev, "pts", "ptmx")); err == nil {
		ptmx := filepath.Join(dev, "ptmx")
		if err := os.Remove(ptmx); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.Symlink("pts/ptmx", ptmx); err != nil {
			return err
		}
	}
	return nil
}

// makeDevice creates a device node, or in a user namespace (where mknod is
// refused) bind-mounts the host's node.
func (m *mounter) makeDevice(d specs.LinuxDevice) error {
	dest, err := resolveIn(m.rootfs, d.Path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if m.userNS {
		if err := mkTarget(dest, false); err != nil {
			return err
		}
		return unix.Mount(d.Path, dest, "", unix.MS_BIND, "")
	}
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	switch d.Type {
	case "c", "u":
		mode |= unix.S_IFCHR
	case "b":
		mode |= unix.S_IFBLK
	case "p":
		mode |= unix.S_IFIFO
	}
	if err := os.Remove(dest); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	old := unix.Umask(0)
	err = unix.Mknod(dest, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
	unix.Umask(old)
	if err != nil {
		return err
	}
	uid, gid := -1, -1
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if uid >= 0 || gid >= 0 {
		return os.Lchown(dest, uid, gid)
	}
	return nil
}

// switchRoot makes rootfs the root: pivot_root(2), or on an initramfs root
// (where pivot_root fails with EINVAL) MS_MOVE onto / and chroot, as runc's
// --no-pivot does. It returns which was used.
func switchRoot(rootfs string) (string, error) {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("pivot_root: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("pivot_root: %w", err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return "", fmt.Errorf("pivot_root: %w", err)
	}
	err = unix.PivotRoot(".", ".")
	if errors.Is(err, unix.EINVAL) {
		if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
			return "", fmt.Errorf("pivot_root refused (EINVAL, initramfs root?) and mount --move %s /: %w", rootfs, err)
		}
		if err := unix.Chroot("."); err != nil {
			return "", fmt.Errorf("chroot: %w", err)
		}
		if err := unix.Chdir("/"); err != nil {
			return "", fmt.Errorf("chdir /: %w", err)
		}
		return "move_chroot", nil
	}
	if err != nil {
		return "", fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	// The old root is now stacked on "/": detach it without propagating
	// the unmount to the host.
	if err := unix.Fchdir(oldroot); err != nil {
		return "", fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return "", fmt.Errorf("pivot_root: make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return "", fmt.Errorf("pivot_root: detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return "", fmt.Errorf("chdir /: %w", err)
	}
	return "pivot_root", nil
}

// finalize runs after the root switch: masked and read-only paths,
// hostname, domain name, sysctls, rootfs propagation and a read-only root.
func (m *mounter) finalize() error {
	l := m.spec.Linux
	if p := l.RootfsPropagation; p != "" {
		if err := unix.Mount("", "/", "", propagationFlags[p], ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %s: %w", p, err)
		}
	}
	for i, p := range l.MaskedPaths {
		if err := maskPath(p); err != nil {
			return fmt.Errorf("linux.maskedPaths[%d] %s: %w", i, p, err)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths[%d] %s: %w", i, p, err)
		}
	}
	if h := m.spec.Hostname; h != "" {
		if err := unix.Sethostname([]byte(h)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	if d := m.spec.Domainname; d != "" {
		if err := unix.Setdomainname([]byte(d)); err != nil {
			return fmt.Errorf("domainname: %w", err)
		}
	}
	for k, v := range l.Sysctl {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("linux.sysctl %s: %w", k, err)
		}
	}
	if m.spec.Root.Readonly {
		if err := remount("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	return nil
}

// maskPath hides p: /dev/null over a file, an empty read-only tmpfs over a
// directory. A path that does not exist needs no masking.
func maskPath(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0k")
	}
	return unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
}

// readonlyPath makes p read-only with a recursive bind onto itself and a
// remount. A path that does not exist needs nothing.
func readonlyPath(p string) error {
	err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, "")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return remount(p, unix.MS_RDONLY|unix.MS_REC)
}
