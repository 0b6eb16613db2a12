package bundle

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MountTypes are the filesystem types csrun mounts. "bind" (or any type with
// a bind/rbind option) is a bind mount; "cgroup" is the host's cgroup
// hierarchy, as runc reads it: cgroup2 where the host's /sys/fs/cgroup is
// cgroup2, refused (by the container package, which looks) where it is v1
// or hybrid.
var MountTypes = map[string]bool{
	"proc": true, "sysfs": true, "tmpfs": true, "mqueue": true, "devpts": true,
	"bind": true, "cgroup": true, "cgroup2": true, "none": true, "": true,
}

// Rlimits maps the spec's rlimit names to their resource numbers.
var Rlimits = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
	"RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
	"RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
	"RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

// Capabilities maps capability names to their numbers (linux/capability.h).
var Capabilities = map[string]int{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// SeccompActions, SeccompOperators, SeccompFlags and SeccompArches list the
// linux.seccomp values csrun implements. SCMP_ACT_NOTIFY is refused.
var (
	SeccompActions = map[specs.LinuxSeccompAction]bool{
		specs.ActKill: true, specs.ActKillProcess: true, specs.ActKillThread: true,
		specs.ActTrap: true, specs.ActErrno: true, specs.ActTrace: true,
		specs.ActAllow: true, specs.ActLog: true,
	}
	SeccompOperators = map[specs.LinuxSeccompOperator]bool{
		specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true,
		specs.OpEqualTo: true, specs.OpGreaterEqual: true, specs.OpGreaterThan: true,
		specs.OpMaskedEqual: true,
	}
	// SeccompFlags maps filter flags to their seccomp(2) bits.
	SeccompFlags = map[specs.LinuxSeccompFlag]uint{
		"SECCOMP_FILTER_FLAG_TSYNC":     1,
		specs.LinuxSeccompFlagLog:       2,
		specs.LinuxSeccompFlagSpecAllow: 4,
	}
	SeccompArches = map[specs.Arch]bool{
		specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true,
		specs.ArchARM: true, specs.ArchAARCH64: true, specs.ArchMIPS: true,
		specs.ArchMIPS64: true, specs.ArchMIPS64N32: true, specs.ArchMIPSEL: true,
		specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
		specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true,
		specs.ArchS390X: true, specs.ArchPARISC: true, specs.ArchPARISC64: true,
		specs.ArchRISCV64: true,
	}
)

// Validate checks a decoded spec against what csrun implements.
func Validate(s *specs.Spec) error {
	if s.Version == "" {
		return invalid("ociVersion", "missing")
	}
	if !strings.HasPrefix(s.Version, "1.") {
		return invalid("ociVersion", "%q: csrun implements runtime-spec 1.x", s.Version)
	}
	if s.Root == nil || s.Root.Path == "" {
		return invalid("root.path", "missing")
	}
	for field, set := range map[string]bool{
		"windows": s.Windows != nil, "solaris": s.Solaris != nil,
		"vm": s.VM != nil, "zos": s.ZOS != nil, "freebsd": s.FreeBSD != nil,
	} {
		if set {
			return unsupported(field, "csrun runs Linux containers")
		}
	}
	if h := s.Hooks; h != nil {
		for _, set := range []struct {
			name  string
			hooks []specs.Hook
		}{
			{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
			{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
		} {
			for i, hk := range set.hooks {
				f := fmt.Sprintf("hooks.%s[%d]", set.name, i)
				if !filepath.IsAbs(hk.Path) {
					return invalid(f+".path", "%q: must be an absolute path", hk.Path)
				}
				if hk.Timeout != nil && *hk.Timeout <= 0 {
					return invalid(f+".timeout", "%d: must be positive", *hk.Timeout)
				}
				for j, e := range hk.Env {
					if !strings.Contains(e, "=") {
						return invalid(fmt.Sprintf("%s.env[%d]", f, j), "%q: want KEY=value", e)
					}
				}
			}
		}
	}
	if err := validateProcess(s.Process); err != nil {
		return err
	}
	if s.Linux == nil {
		return invalid("linux", "missing: a mount namespace is required")
	}
	nsTypes, err := validateLinux(s.Linux)
	if err != nil {
		return err
	}
	if (s.Hostname != "" || s.Domainname != "") && !nsTypes[specs.UTSNamespace] {
		f := "hostname"
		if s.Hostname == "" {
			f = "domainname"
		}
		return invalid(f, "set without a uts namespace")
	}
	if err := validateSysctl(s.Linux.Sysctl, nsTypes, s.Hostname != ""); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		if err := validateMount(fmt.Sprintf("mounts[%d]", i), m); err != nil {
			return err
		}
	}
	return nil
}

// ipcSysctls are the kernel.* sysctls an IPC namespace owns (besides
// fs.mqueue.*), as runc lists them.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// SysctlPath is the file under /proc/sys a linux.sysctl key names: dots
// separate the levels, unless the key is written with slashes (then dots
// are part of a name, as in net/ipv4/conf/eth0.100/forwarding).
func SysctlPath(key string) string {
	if strings.Contains(key, "/") {
		return "/proc/sys/" + strings.Trim(key, "/")
	}
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

// validateSysctl accepts only the sysctls a namespace of the container
// owns, as runc does: net.* with a network namespace, the IPC ones with an
// IPC namespace, kernel.hostname and kernel.domainname with a UTS
// namespace. Any other key would change the host (kernel.core_pattern).
func validateSysctl(sysctl map[string]string, ns map[specs.LinuxNamespaceType]bool, hostname bool) error {
	keys := make([]string, 0, len(sysctl))
	for k := range sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fmt.Sprintf("linux.sysctl[%q]", k)
		if k == "" || strings.Contains(k, "..") || strings.ContainsAny(k, " \x00") ||
			slices.Contains(strings.Split(strings.Trim(k, "/"), "/"), "..") {
			return invalid(f, "bad key")
		}
		name := k
		if strings.Contains(k, "/") {
			name = strings.ReplaceAll(strings.Trim(k, "/"), "/", ".")
		}
		var need specs.LinuxNamespaceType
		switch {
		case strings.HasPrefix(name, "net."):
			need = specs.NetworkNamespace
		case ipcSysctls[name] || strings.HasPrefix(name, "fs.mqueue."):
			need = specs.IPCNamespace
		case name == "kernel.hostname" || name == "kernel.domainname":
			need = specs.UTSNamespace
			if name == "kernel.hostname" && hostname {
				return invalid(f, "conflicts with the hostname field; set one of them")
			}
		default:
			return invalid(f, "not in a namespace the container owns: writing it would change the host "+
				"(allowed: net.* with a network namespace; kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* with an ipc namespace; "+
				"kernel.hostname, kernel.domainname with a uts namespace)")
		}
		if !ns[need] {
			return invalid(f, "needs the container's own %s namespace: without one it would change the host's", need)
		}
	}
	return nil
}

func validateProcess(p *specs.Process) error {
	if p == nil {
		return invalid("process", "missing")
	}
	switch {
	case p.Terminal:
		return unsupported("process.terminal", "true (csrun passes stdio through)")
	case p.ConsoleSize != nil:
		return unsupported("process.consoleSize", "no terminal support")
	case p.CommandLine != "":
		return unsupported("process.commandLine", "Windows only")
	case p.ApparmorProfile != "":
		return unsupported("process.apparmorProfile", "no AppArmor support")
	case p.SelinuxLabel != "":
		return unsupported("process.selinuxLabel", "no SELinux support")
	case p.Scheduler != nil:
		return unsupported("process.scheduler", "sched_setattr not implemented")
	case p.IOPriority != nil:
		return unsupported("process.ioPriority", "ioprio_set not implemented")
	case p.ExecCPUAffinity != nil:
		return unsupported("process.execCPUAffinity", "not implemented")
	case p.User.Username != "":
		return unsupported("process.user.username", "Windows only")
	case len(p.Args) == 0 || p.Args[0] == "":
		return invalid("process.args", "missing")
	case p.Cwd == "" || !filepath.IsAbs(p.Cwd):
		return invalid("process.cwd", "%q: must be an absolute path", p.Cwd)
	}
	for i, e := range p.Env {
		if !strings.Contains(e, "=") {
			return invalid(fmt.Sprintf("process.env[%d]", i), "%q: want KEY=value", e)
		}
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		f := fmt.Sprintf("process.rlimits[%d]", i)
		if _, ok := Rlimits[r.Type]; !ok {
			return invalid(f+".type", "unknown rlimit %q", r.Type)
		}
		if seen[r.Type] {
			return invalid(f+".type", "%s given twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return invalid(f, "soft limit %d above hard limit %d", r.Soft, r.Hard)
		}
	}
	if c := p.Capabilities; c != nil {
		for set, names := range map[string][]string{
			"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted,
			"inheritable": c.Inheritable, "ambient": c.Ambient,
		} {
			for i, n := range names {
				if _, ok := Capabilities[n]; !ok {
					return invalid(fmt.Sprintf("process.capabilities.%s[%d]", set, i), "unknown capability %q", n)
				}
			}
		}
	}
	return nil
}

func validateLinux(l *specs.Linux) (map[specs.LinuxNamespaceType]bool, error) {
	switch {
	case len(l.NetDevices) > 0:
		return nil, unsupported("linux.netDevices", "not implemented")
	case l.MountLabel != "":
		return nil, unsupported("linux.mountLabel", "no SELinux support")
	case l.IntelRdt != nil:
		return nil, unsupported("linux.intelRdt", "not implemented")
	case l.MemoryPolicy != nil:
		return nil, unsupported("linux.memoryPolicy", "not implemented")
	case l.Personality != nil:
		return nil, unsupported("linux.personality", "not implemented")
	case len(l.TimeOffsets) > 0:
		return nil, unsupported("linux.timeOffsets", "time namespaces are not implemented")
	}
	if l.CgroupsPath != "" && (strings.Contains(l.CgroupsPath, ":") || strings.Contains(l.CgroupsPath, "..")) {
		return nil, unsupported("linux.cgroupsPath", fmt.Sprintf("%q: only a cgroup v2 path (no systemd slice:prefix:name form: csrun has no systemd cgroup driver; no ..)", l.CgroupsPath))
	}
	switch l.RootfsPropagation {
	case "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
	default:
		return nil, invalid("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
	}
	types := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		f := fmt.Sprintf("linux.namespaces[%d]", i)
		switch ns.Type {
		case specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
			specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace:
		case specs.TimeNamespace:
			return nil, unsupported(f+".type", "time namespaces are not implemented")
		default:
			return nil, invalid(f+".type", "unknown namespace type %q", ns.Type)
		}
		if ns.Path != "" {
			return nil, unsupported(f+".path", "joining an existing namespace is not implemented")
		}
		if types[ns.Type] {
			return nil, invalid(f+".type", "%s namespace given twice", ns.Type)
		}
		types[ns.Type] = true
	}
	if !types[specs.MountNamespace] {
		return nil, invalid("linux.namespaces", "a mount namespace is required")
	}
	if types[specs.UserNamespace] {
		if len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0 {
			return nil, invalid("linux.uidMappings", "a user namespace needs uidMappings and gidMappings")
		}
	} else if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
		return nil, invalid("linux.uidMappings", "id mappings without a user namespace")
	}
	for i, m := range append(append([]specs.LinuxIDMapping{}, l.UIDMappings...), l.GIDMappings...) {
		if m.Size == 0 {
			f := fmt.Sprintf("linux.uidMappings[%d].size", i)
			if i >= len(l.UIDMappings) {
				f = fmt.Sprintf("linux.gidMappings[%d].size", i-len(l.UIDMappings))
			}
			return nil, invalid(f, "zero")
		}
	}
	for i, d := range l.Devices {
		f := fmt.Sprintf("linux.devices[%d]", i)
		if !filepath.IsAbs(d.Path) {
			return nil, invalid(f+".path", "%q: must be absolute", d.Path)
		}
		switch d.Type {
		case "c", "u", "b", "p":
		default:
			return nil, invalid(f+".type", "unknown device type %q", d.Type)
		}
	}
	for i, p := range append(append([]string{}, l.MaskedPaths...), l.ReadonlyPaths...) {
		if !filepath.IsAbs(p) {
			f := fmt.Sprintf("linux.maskedPaths[%d]", i)
			if i >= len(l.MaskedPaths) {
				f = fmt.Sprintf("linux.readonlyPaths[%d]", i-len(l.MaskedPaths))
			}
			return nil, invalid(f, "%q: must be absolute", p)
		}
	}
	if l.Seccomp != nil {
		if err := validateSeccomp(l.Seccomp); err != nil {
			return nil, err
		}
	}
	return types, nil
}

func validateSeccomp(sc *specs.LinuxSeccomp) error {
	if sc.ListenerPath != "" || sc.ListenerMetadata != "" {
		return unsupported("linux.seccomp.listenerPath", "seccomp user notification is not implemented")
	}
	if !SeccompActions[sc.DefaultAction] {
		return invalid("linux.seccomp.defaultAction", "unknown or unsupported action %q", sc.DefaultAction)
	}
	for i, a := range sc.Architectures {
		if !SeccompArches[a] {
			return invalid(fmt.Sprintf("linux.seccomp.architectures[%d]", i), "unknown architecture %q", a)
		}
	}
	for i, fl := range sc.Flags {
		if _, ok := SeccompFlags[fl]; !ok {
			return unsupported(fmt.Sprintf("linux.seccomp.flags[%d]", i), fmt.Sprintf("flag %q", fl))
		}
	}
	for i, sys := range sc.Syscalls {
		f := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		if len(sys.Names) == 0 {
			return invalid(f+".names", "empty")
		}
		if !SeccompActions[sys.Action] {
			return invalid(f+".action", "unknown or unsupported action %q", sys.Action)
		}
		for j, a := range sys.Args {
			if a.Index > 5 {
				return invalid(fmt.Sprintf("%s.args[%d].index", f, j), "%d: a system call has 6 arguments", a.Index)
			}
			if !SeccompOperators[a.Op] {
				return invalid(fmt.Sprintf("%s.args[%d].op", f, j), "unknown operator %q", a.Op)
			}
		}
	}
	return nil
}

func validateMount(f string, m specs.Mount) error {
	if !filepath.IsAbs(m.Destination) {
		return invalid(f+".destination", "%q: must be an absolute path", m.Destination)
	}
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return unsupported(f+".uidMappings", "id-mapped mounts are not implemented")
	}
	bind := m.Type == "bind"
	for i, o := range m.Options {
		if o == "bind" || o == "rbind" {
			bind = true
		}
		if strings.HasPrefix(o, "idmap") || strings.HasPrefix(o, "ridmap") || o == "tmpcopyup" {
			return unsupported(fmt.Sprintf("%s.options[%d]", f, i), fmt.Sprintf("option %q", o))
		}
	}
	// A bind mount passes no data to a filesystem: an option that is not a
	// flag csrun knows would be dropped by the kernel without a word.
	for i, o := range m.Options {
		if bind && IsDataOption(o) {
			return unsupported(fmt.Sprintf("%s.options[%d]", f, i),
				fmt.Sprintf("option %q on a bind mount: not a mount flag csrun knows, and a bind mount takes no filesystem data", o))
		}
	}
	if !MountTypes[m.Type] {
		return unsupported(f+".type", fmt.Sprintf("filesystem type %q (csrun mounts proc, sysfs, tmpfs, mqueue, devpts, cgroup, bind)", m.Type))
	}
	if (m.Type == "" || m.Type == "none") && !bind {
		return invalid(f+".type", "missing (and no bind option)")
	}
	if bind && m.Source == "" {
		return invalid(f+".source", "a bind mount needs a source")
	}
	return nil
}
