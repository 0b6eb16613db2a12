package container

import (
	"fmt"
	"path/filepath"
	"strings"

	"coldstart/runtime/bundle"
	"coldstart/runtime/cgroups"
	"coldstart/runtime/internal/initstage"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountOptions is what a mount's fstab options become.
type mountOptions struct {
	flags            uintptr   // mount(2) flags
	prop             []uintptr // propagation, applied in order after the mount
	attrSet, attrClr uint64    // mount_setattr(2) AT_RECURSIVE, after the mount
	data             string    // the rest, comma-separated: the filesystem's data
}

// parseOptions splits fstab options into flags, propagation, recursive
// attributes (as runc: an access-time mode in attrSet also clears
// MOUNT_ATTR__ATIME, as mount_setattr(2) requires) and data.
func parseOptions(opts []string) mountOptions {
	var m mountOptions
	var d []string
	for _, o := range opts {
		if f, ok := bundle.MountFlags[o]; ok {
			if f.Clear {
				m.flags &^= f.Flag
			} else {
				m.flags |= f.Flag
			}
			continue
		}
		if p, ok := bundle.PropagationFlags[o]; ok {
			m.prop = append(m.prop, p)
			continue
		}
		if a, ok := bundle.RecursiveAttrs[o]; ok {
			if a.Clear {
				m.attrClr |= a.Attr
				m.attrSet &^= a.Attr
			} else {
				m.attrSet |= a.Attr
				m.attrClr &^= a.Attr
				if a.Attr&unix.MOUNT_ATTR__ATIME == a.Attr {
					m.attrClr |= unix.MOUNT_ATTR__ATIME
				}
			}
			continue
		}
		d = append(d, o)
	}
	m.data = strings.Join(d, ",")
	return m
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

// hostCgroup2 reports whether the host's /sys/fs/cgroup is a cgroup2 mount
// (unified), as opposed to v1 or hybrid (a tmpfs of v1 hierarchies).
func hostCgroup2() bool {
	var fs unix.Statfs_t
	return unix.Statfs(cgroups.Root, &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC
}

// configMount turns a config.json mount into the stage's operation. A
// "cgroup" mount is the host's hierarchy, as runc and crun read it:
// cgroup2 when the host's is (unified2 is true), refused otherwise: csrun
// mounts no cgroup v1 hierarchy.
func configMount(field, rootfs string, mnt specs.Mount, unified2 bool) (initstage.ConfigMount, error) {
	o := parseOptions(mnt.Options)
	m := initstage.ConfigMount{
		Rootfs: rootfs, Dest: filepath.Clean("/" + mnt.Destination), Source: mnt.Source,
		Type: mnt.Type, Flags: o.flags, Data: o.data, Bind: isBind(mnt), Propagation: o.prop,
		AttrSet: o.attrSet, AttrClr: o.attrClr,
	}
	if m.Bind {
		m.Type = ""
		if m.Data != "" { // bundle.Validate refuses these; never drop them
			return m, &bundle.FieldError{Field: field + ".options", Reason: fmt.Sprintf("%q on a bind mount: not a mount flag", m.Data), Err: bundle.ErrUnsupported}
		}
	}
	if m.Type == "cgroup" {
		if !unified2 {
			return m, &bundle.FieldError{Field: field + ".type", Err: bundle.ErrUnsupported,
				Reason: fmt.Sprintf(`"cgroup": this host's %s is cgroup v1 or hybrid, and csrun mounts only cgroup2 (runc mounts "cgroup" as cgroup2 only on a cgroup2 host; write "cgroup2" to ask for it)`, cgroups.Root)}
		}
		m.Type = "cgroup2"
	}
	if m.Source == "" {
		m.Source = m.Type
	}
	// In a user namespace sysfs and cgroup2 may be refused (the net or
	// cgroup namespace is not ours): bind the host's, as runc does.
	// Not when there is data for the filesystem (nsdelegate): a bind of
	// the host's would drop it.
	if m.Data == "" {
		m.HostFallback = map[string]string{"sysfs": "/sys", "cgroup2": "/sys/fs/cgroup"}[m.Type]
	}
	return m, nil
}

// configMounts is configMount for each of spec.Mounts, done before the
// clone so that a refusal costs no process.
func configMounts(spec *specs.Spec, rootfs string) ([]initstage.ConfigMount, error) {
	unified2 := hostCgroup2()
	out := make([]initstage.ConfigMount, len(spec.Mounts))
	for i, mnt := range spec.Mounts {
		m, err := configMount(fmt.Sprintf("mounts[%d]", i), rootfs, mnt, unified2)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}
