package scenario

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Scenario is one kernel primitive to time. Name is a stable identifier.
type Scenario struct {
	Name        string
	Description string
	// Option is the kernel option the scenario needs ("" when none: mount
	// namespaces always exist); a comma-separated list when it needs more
	// than one. An UnsupportedError names the one actually missing.
	Option string
}

// ErrNotSupported is matched (errors.Is) by every *UnsupportedError.
var ErrNotSupported = errors.New("not supported by this kernel")

// UnsupportedError reports a scenario this kernel cannot run. Option is the
// missing kernel option ("CONFIG_NET_NS") or the sysctl that forbids it
// ("user.max_user_namespaces").
type UnsupportedError struct {
	Scenario, Option, Detail string
}

func (e *UnsupportedError) Error() string {
	s := fmt.Sprintf("scenario %s: %v: needs %s", e.Scenario, ErrNotSupported, e.Option)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrNotSupported }

// need is one precondition of a scenario.
type need struct {
	ns     string // /proc/self/ns/<ns> and /proc/sys/user/max_<ns>_namespaces
	fs     string // a name in /proc/filesystems
	option string // kernel option that provides it ("": always built in)
}

type spec struct {
	Scenario
	flags uintptr // CLONE_NEW* flags
	mount bool    // the child mounts mqueue and times it
	needs []need
}

var (
	nsNet    = need{ns: "net", option: "CONFIG_NET_NS"}
	nsIPC    = need{ns: "ipc", option: "CONFIG_IPC_NS"}
	nsUTS    = need{ns: "uts", option: "CONFIG_UTS_NS"}
	nsPID    = need{ns: "pid", option: "CONFIG_PID_NS"}
	nsMnt    = need{ns: "mnt"}
	nsUser   = need{ns: "user", option: "CONFIG_USER_NS"}
	nsCgroup = need{ns: "cgroup", option: "CONFIG_CGROUPS"}
	fsMqueue = need{fs: "mqueue", option: "CONFIG_POSIX_MQUEUE"}
)

// specs is the scenario table, in the stable order All returns.
var specs = []*spec{
	{Scenario: Scenario{Name: "netns", Description: "new network namespace: clone(CLONE_NEWNET), exit, teardown, reap"},
		flags: unix.CLONE_NEWNET, needs: []need{nsNet}},
	{Scenario: Scenario{Name: "ipcns", Description: "new IPC namespace: clone(CLONE_NEWIPC), exit, teardown, reap"},
		flags: unix.CLONE_NEWIPC, needs: []need{nsIPC}},
	{Scenario: Scenario{Name: "utsns", Description: "new UTS namespace: clone(CLONE_NEWUTS), exit, teardown, reap"},
		flags: unix.CLONE_NEWUTS, needs: []need{nsUTS}},
	{Scenario: Scenario{Name: "pidns", Description: "new PID namespace: clone(CLONE_NEWPID), child is its init, exit, teardown, reap"},
		flags: unix.CLONE_NEWPID, needs: []need{nsPID}},
	{Scenario: Scenario{Name: "mntns", Description: "new mount namespace: clone(CLONE_NEWNS), exit, teardown, reap"},
		flags: unix.CLONE_NEWNS, needs: []need{nsMnt}},
	{Scenario: Scenario{Name: "userns", Description: "new user namespace: clone(CLONE_NEWUSER), exit, teardown, reap"},
		flags: unix.CLONE_NEWUSER, needs: []need{nsUser}},
	{Scenario: Scenario{Name: "cgroupns", Description: "new cgroup namespace: clone(CLONE_NEWCGROUP), exit, teardown, reap"},
		flags: unix.CLONE_NEWCGROUP, needs: []need{nsCgroup}},
	{Scenario: Scenario{Name: "mqueue", Description: "clone(CLONE_NEWNS|CLONE_NEWIPC), then the child mounts mqueue (op_ns: the mount alone)"},
		flags: unix.CLONE_NEWNS | unix.CLONE_NEWIPC, mount: true, needs: []need{nsMnt, nsIPC, fsMqueue}},
	{Scenario: Scenario{Name: "clone-all", Description: "clone with the namespaces a rootful runtime asks for: NS|UTS|IPC|PID|NET|CGROUP"},
		flags: unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP,
		needs: []need{nsMnt, nsUTS, nsIPC, nsPID, nsNet, nsCgroup}},
}

func init() {
	for _, sp := range specs {
		var opts []string
		for _, n := range sp.needs {
			if n.option != "" {
				opts = append(opts, n.option)
			}
		}
		sp.Option = strings.Join(opts, ",")
	}
}

// All returns every scenario, in a stable order.
func All() []Scenario {
	out := make([]Scenario, len(specs))
	for i, sp := range specs {
		out[i] = sp.Scenario
	}
	return out
}

// Names returns the scenario names, in the order of All.
func Names() []string {
	out := make([]string, len(specs))
	for i, sp := range specs {
		out[i] = sp.Name
	}
	return out
}

// Lookup returns the scenario called name.
func Lookup(name string) (Scenario, error) {
	sp, err := lookupSpec(name)
	if err != nil {
		return Scenario{}, err
	}
	return sp.Scenario, nil
}

func lookupSpec(name string) (*spec, error) {
	for _, sp := range specs {
		if sp.Name == name {
			return sp, nil
		}
	}
	return nil, fmt.Errorf("unknown scenario %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// Check reports whether this kernel can run the scenario: nil, an
// *UnsupportedError, or another error if /proc cannot be read. Call it once
// up front; Run does not repeat it.
func (s Scenario) Check() error { return s.check("/proc") }

// check is Check with the proc file system mounted at proc.
func (s Scenario) check(proc string) error {
	sp, err := lookupSpec(s.Name)
	if err != nil {
		return err
	}
	if !cloneSupported {
		return &UnsupportedError{Scenario: s.Name, Option: "GOARCH=amd64",
			Detail: "the clone child is written in amd64 assembly only"}
	}
	for _, n := range sp.needs {
		if err := n.check(s.Name, proc); err != nil {
			return err
		}
	}
	return nil
}

func (n need) check(scenario, proc string) error {
	switch {
	case n.ns != "":
		if n.option != "" {
			p := filepath.Join(proc, "self", "ns", n.ns)
			if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
				return &UnsupportedError{Scenario: scenario, Option: n.option, Detail: p + " does not exist"}
			} else if err != nil {
				return fmt.Errorf("scenario %s: %w", scenario, err)
			}
		}
		if zero, sysctl := maxNamespacesZero(proc, n.ns); zero {
			return &UnsupportedError{Scenario: scenario, Option: sysctl, Detail: "the sysctl is 0"}
		}
	case n.fs != "":
		p := filepath.Join(proc, "filesystems")
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", scenario, err)
		}
		if !hasFilesystem(b, n.fs) {
			return &UnsupportedError{Scenario: scenario, Option: n.option, Detail: n.fs + " is not in " + p}
		}
	}
	return nil
}

// maxNamespacesZero reports whether /proc/sys/user/max_<ns>_namespaces is
// 0 (a missing file, kernels before 4.9, counts as no limit).
func maxNamespacesZero(proc, ns string) (bool, string) {
	sysctl := "user.max_" + ns + "_namespaces"
	b, err := os.ReadFile(filepath.Join(proc, "sys", "user", "max_"+ns+"_namespaces"))
	if err != nil {
		return false, sysctl
	}
	v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	return err == nil && v == 0, sysctl
}

// hasFilesystem reports whether /proc/filesystems content lists name.
func hasFilesystem(content []byte, name string) bool {
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}
