// Package cgroups puts a container in a cgroup v2 of its own: it creates
// the cgroup named by linux.cgroupsPath under the cgroup2 mount, enables
// the controllers linux.resources needs on the way down, writes the limits,
// attaches the device rules as an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE,
// with github.com/cilium/ebpf), and removes the cgroup when the container
// is deleted. The container's process is cloned straight into it
// (clone3 CLONE_INTO_CGROUP, with the descriptor Create returns), so a
// cgroup namespace it asks for is rooted there.
//
// The v1-shaped fields of linux.resources are converted as runc converts
// them (cpu.shares to cpu.weight, memory.swap from memory+swap to swap).
// A field with no cgroup v2 equivalent is refused naming it; a controller
// the hierarchy does not offer is refused naming the field and the
// controller (*MissingControllerError). Nothing is dropped.
//
// cgroup v1 and hybrid hierarchies are not supported: the root must be a
// cgroup2 mount. The package reads no environment variables.
package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Root is where the cgroup2 hierarchy is mounted.
const Root = "/sys/fs/cgroup"

// ErrNotSupported is wrapped by the errors about what this kernel or host
// lacks: no cgroup2 mount, a missing controller, no device filters.
var ErrNotSupported = errors.New("not supported here")

// MissingControllerError says a field needs a controller the hierarchy
// does not offer.
type MissingControllerError struct {
	Field      string // e.g. "linux.resources.memory.limit"
	Controller string // e.g. "memory"
	Available  []string
	Where      string // the cgroup.controllers file read
}

func (e *MissingControllerError) Error() string {
	return fmt.Sprintf("config.json: %s: needs the %s controller, which this cgroup2 hierarchy does not offer (%s: %s)",
		e.Field, e.Controller, e.Where, strings.Join(e.Available, " "))
}

func (e *MissingControllerError) Unwrap() error { return ErrNotSupported }

// Path is the absolute directory of the cgroup for cgroupsPath, as runc
// places it: an absolute cgroupsPath is below root; a relative one, or the
// container id when cgroupsPath is empty, is beside the cgroup of the
// calling process (its parent's child).
func Path(root, cgroupsPath, id string) (string, error) {
	p := cgroupsPath
	if p == "" {
		p = id
	}
	if filepath.IsAbs(p) {
		return filepath.Join(root, filepath.Clean(p)), nil
	}
	own, err := ownCgroup()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.Dir(own), filepath.Clean("/"+p)), nil
}

// ownCgroup is the calling process's cgroup v2 path ("0::/a/b").
func ownCgroup() (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("/proc/self/cgroup: no cgroup v2 entry")
}

// Cgroup is a container's cgroup, created by Create.
type Cgroup struct {
	Dir     string // absolute
	Created bool   // Create made Dir (and Remove should remove it)
	FD      int    // O_PATH descriptor of Dir, for CLONE_INTO_CGROUP; Close it
}

// Close closes the descriptor.
func (c *Cgroup) Close() error { return unix.Close(c.FD) }

// Create makes dir (below root) with the writes applied and the device
// filter attached. On error nothing it made is left.
func Create(root, dir string, writes []Write, devices []DeviceRule) (_ *Cgroup, err error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(root, &fs); err != nil {
		return nil, err
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("%s is not a cgroup2 mount (v1 or hybrid): csrun supports cgroup v2 only: %w", root, ErrNotSupported)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("cgroup %s is not below %s", dir, root)
	}
	insts, err := DeviceFilter(devices)
	if err != nil {
		return nil, err
	}

	// The controllers needed, offered by the root, enabled on the way down.
	var need []string
	field := map[string]string{}
	for _, w := range writes {
		if w.Controller != "" && !slices.Contains(need, w.Controller) {
			need = append(need, w.Controller)
			field[w.Controller] = w.Field
		}
	}
	if len(need) > 0 {
		where := filepath.Join(root, "cgroup.controllers")
		avail, err := readList(where)
		if err != nil {
			return nil, err
		}
		for _, c := range need {
			if !slices.Contains(avail, c) {
				return nil, &MissingControllerError{Field: field[c], Controller: c, Available: avail, Where: where}
			}
		}
	}
	parts := strings.Split(rel, string(filepath.Separator))
	var made []string // directories Create made, outermost first
	defer func() {
		if err != nil {
			for i := len(made) - 1; i >= 0; i-- {
				os.Remove(made[i])
			}
		}
	}()
	cur := root
	for _, p := range parts {
		if err := enable(cur, need); err != nil {
			return nil, err
		}
		cur = filepath.Join(cur, p)
		// An existing cgroup is joined, as runc joins it.
		if err := os.Mkdir(cur, 0o755); err == nil {
			made = append(made, cur)
		} else if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
	}
	cg := &Cgroup{Dir: dir, Created: len(made) > 0 && made[len(made)-1] == dir, FD: -1}
	for _, w := range writes {
		if err := write(dir, w); err != nil {
			return nil, err
		}
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	if insts != nil {
		if err := attachDeviceFilter(fd, insts); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("linux.resources.devices: %w", err)
		}
	}
	cg.FD = fd
	return cg, nil
}

func readList(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}

// enable turns on the controllers in dir's cgroup.subtree_control, those
// not on already.
func enable(dir string, ctrls []string) error {
	if len(ctrls) == 0 {
		return nil
	}
	f := filepath.Join(dir, "cgroup.subtree_control")
	on, err := readList(f)
	if err != nil {
		return err
	}
	var add []string
	for _, c := range ctrls {
		if !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := os.WriteFile(f, []byte(strings.Join(add, " ")), 0); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("enable %s in %s: %w (the cgroup has processes of its own: place the container in a cgroup without them)", strings.Join(add, " "), f, err)
		}
		return fmt.Errorf("enable %s in %s: %w", strings.Join(add, " "), f, err)
	}
	return nil
}

func write(dir string, w Write) error {
	file, value := w.File, w.Value
	if w.Alt != "" {
		if _, err := os.Stat(filepath.Join(dir, file)); errors.Is(err, os.ErrNotExist) {
			file, value = w.Alt, w.AltValue
		}
	}
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, []byte(value), 0); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("config.json: %s: %s does not exist (the kernel lacks this control): %w", w.Field, p, ErrNotSupported)
		}
		return fmt.Errorf("config.json: %s: write %q to %s: %w", w.Field, value, p, err)
	}
	return nil
}

// Remove removes a cgroup csrun created, killing what is left in it first
// (cgroup.kill, Linux 5.14). A cgroup that is gone already is fine.
func Remove(dir string) error {
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) {
		return err
	}
	os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	for i := 0; i < 100; i++ {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if procs, _ := readList(filepath.Join(dir, "cgroup.procs")); len(procs) > 0 {
			unix.Nanosleep(&unix.Timespec{Nsec: 1e6}, nil)
			continue
		}
		break
	}
	return err
}

// Wanted reports whether the container gets a cgroup: when it names one
// (cgroupsPath) or sets resources. Without either csrun makes none.
func Wanted(l *specs.Linux) bool { return l.CgroupsPath != "" || l.Resources != nil }
