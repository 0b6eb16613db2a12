package container

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"coldstart/runtime/bundle"
	"coldstart/runtime/internal/initstage"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// IsInit reports whether args (os.Args) start the init stage.
func IsInit(args []string) bool { return len(args) > 1 && args[1] == "init" }

// Init is what main calls when IsInit and the init stage did not run:
// the stage itself runs before main (runtime/internal/initstage), in a
// process csrun started with its environment and file descriptors. A
// "csrun init" typed by hand ends here.
func Init() {
	fmt.Fprintln(os.Stderr, "csrun init: this is csrun's init stage, which only csrun starts (run csrun create or csrun run)")
	os.Exit(2)
}

// initProgram is what the init stage does for a container, in order: the
// root filesystem and its mounts, the root switch, masked and read-only
// hostname, sysctls, masked and read-only paths, "ready"; after start, the process's limits,
// credentials and seccomp, then execve. Each operation carries the
// config.json field it comes from, for errors.
// hookPlan is what the init stage needs for the hooks: whether to wait for
// the parent's createRuntime hooks, and the state each kind reads.
type hookPlan struct {
	sync                            bool
	stateCreating, stateCreated     []byte
	createContainer, startContainer []specs.Hook
}

func initProgram(spec *specs.Spec, rootfs string, mounts []initstage.ConfigMount, hooks hookPlan, userNS, waitStart, noPivot bool, bpf []byte, seccompFlags uint) *initstage.Program {
	p := initstage.New()
	p.Mark(PhaseBootstrap)
	l, proc := spec.Linux, spec.Process

	// Process-wide settings that read the host's /proc: before the root switch.
	if adj := proc.OOMScoreAdj; adj != nil {
		p.WriteFile("process.oomScoreAdj", "/proc/self/oom_score_adj", []byte(strconv.Itoa(*adj)))
	}

	// Keep our mounts from propagating to the host. MS_SHARED here would
	// leak, so apply it to the new root only, after the switch.
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if rp := l.RootfsPropagation; rp != "" {
		prop = bundle.PropagationFlags[rp]
	}
	if prop&unix.MS_SHARED != 0 {
		prop = unix.MS_SLAVE | unix.MS_REC
	}
	p.Mount(fmt.Sprintf("linux.rootfsPropagation: make / %#x", prop), "", "/", "", prop, "")
	// pivot_root needs the new root to be a mount point.
	p.Mount("root.path: bind onto itself", rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, "")
	devBind := false
	for i, mnt := range spec.Mounts {
		p.ConfigMount(fmt.Sprintf("mounts[%d] (%s on %s)", i, mnt.Type, mnt.Destination), mounts[i])
		if filepath.Clean(mnt.Destination) == "/dev" && isBind(mnt) {
			devBind = true
		}
	}
	if !devBind {
		setupDev(p, rootfs, userNS)
	}
	for i, d := range l.Devices {
		p.Device(fmt.Sprintf("linux.devices[%d] %s", i, d.Path), device(rootfs, d, userNS))
	}
	p.Mark(PhaseMounts)
	if hooks.sync {
		p.HooksSync("hooks.createRuntime", initstage.FDResume)
		p.Mark(PhaseHooks)
	}
	for i, h := range hooks.createContainer {
		p.Hook(fmt.Sprintf("hooks.createContainer[%d]", i), h.Path, h.Args, h.Env, hookTimeoutMS(h), hooks.stateCreating)
	}
	if len(hooks.createContainer) > 0 {
		p.Mark(PhaseHooks)
	}
	p.SwitchRoot("", rootfs, noPivot)
	p.Mark(PhasePivotRoot)

	if rp := l.RootfsPropagation; rp != "" {
		p.Mount("linux.rootfsPropagation "+rp, "", "/", "", bundle.PropagationFlags[rp], "")
	}
	if spec.Hostname != "" {
		p.Sethostname("hostname", spec.Hostname)
	}
	if spec.Domainname != "" {
		p.Setdomainname("domainname", spec.Domainname)
	}
	// Sysctls before the read-only paths: runc's spec makes /proc/sys
	// read-only, and the container's own sysctls are still to be written.
	keys := make([]string, 0, len(l.Sysctl))
	for k := range l.Sysctl {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p.WriteFile("linux.sysctl "+k, bundle.SysctlPath(k), []byte(l.Sysctl[k]))
	}
	for i, path := range l.MaskedPaths {
		p.Mask(fmt.Sprintf("linux.maskedPaths[%d] %s", i, path), path)
	}
	for i, path := range l.ReadonlyPaths {
		p.Readonly(fmt.Sprintf("linux.readonlyPaths[%d] %s", i, path), path)
	}
	if spec.Root.Readonly {
		p.Remount("root.readonly", "/", unix.MS_RDONLY)
	}
	p.Mark(PhaseFinalize)
	p.Ready()

	if waitStart {
		p.WaitStart("")
		p.Mark(PhaseWaitStart)
	}
	for i, h := range hooks.startContainer {
		p.Hook(fmt.Sprintf("hooks.startContainer[%d]", i), h.Path, h.Args, h.Env, hookTimeoutMS(h), hooks.stateCreated)
	}
	if len(hooks.startContainer) > 0 {
		p.Mark(PhaseHooks)
	}
	p.Close(initstage.FDStateDir)
	p.LookPath("process.args[0]", proc.Args[0], searchPath(proc.Env))
	p.Chdir("process.cwd", proc.Cwd)
	for _, rl := range proc.Rlimits {
		p.Rlimit("process.rlimits "+rl.Type, bundle.Rlimits[rl.Type], rl.Soft, rl.Hard)
	}
	if proc.User.Umask != nil {
		p.Umask(*proc.User.Umask)
	}
	// runc's order: without no_new_privs the filter must go in while we
	// still hold CAP_SYS_ADMIN; with it, as late as possible.
	loadSeccomp := func() {
		if len(bpf) > 0 {
			p.Mark("")
			p.Seccomp("linux.seccomp", seccompFlags, bpf)
			p.Mark(PhaseSeccompLoad)
		}
	}
	if !proc.NoNewPrivileges {
		loadSeccomp()
	}
	p.Credentials("", credentials(proc))
	if proc.NoNewPrivileges {
		p.NoNewPrivs("process.noNewPrivileges")
	}
	p.Mark(PhaseCredentials)
	if proc.NoNewPrivileges {
		loadSeccomp()
	}
	// The latest phase end is when execve begins; the parent closes the
	// exec phase when it sees the close-on-exec sync pipe close.
	if !waitStart {
		p.ExecMsg()
	}
	p.Execve("", proc.Args, proc.Env)
	return p
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
func setupDev(p *initstage.Program, rootfs string, userNS bool) {
	dev := filepath.Join(rootfs, "dev")
	p.MkdirAll("/dev", dev)
	for _, d := range defaultDevices {
		p.Device("/dev: "+d.Path, device(rootfs, d, userNS))
	}
	for _, l := range [][2]string{
		{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
	} {
		p.Symlink("/dev", l[1], filepath.Join(dev, l[0]))
	}
	p.Ptmx("/dev", dev)
}

func device(rootfs string, d specs.LinuxDevice, userNS bool) initstage.Device {
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
	out := initstage.Device{
		Rootfs: rootfs, Path: filepath.Clean("/" + d.Path), HostPath: d.Path, Mode: mode,
		Dev: unix.Mkdev(uint32(d.Major), uint32(d.Minor)), UID: -1, GID: -1, UserNS: userNS,
	}
	if d.UID != nil {
		out.UID = int64(*d.UID)
	}
	if d.GID != nil {
		out.GID = int64(*d.GID)
	}
	return out
}

// credentials turns process.user and process.capabilities into masks.
func credentials(p *specs.Process) initstage.Credentials {
	c := initstage.Credentials{UID: p.User.UID, GID: p.User.GID, Groups: p.User.AdditionalGids}
	if pc := p.Capabilities; pc != nil {
		for _, set := range []struct {
			names []string
			mask  *uint64
		}{{pc.Bounding, &c.Bounding}, {pc.Effective, &c.Effective}, {pc.Permitted, &c.Permitted},
			{pc.Inheritable, &c.Inheritable}, {pc.Ambient, &c.Ambient}} {
			for _, n := range set.names {
				*set.mask |= 1 << bundle.Capabilities[n]
			}
		}
	}
	return c
}

// searchPath is the PATH process.args[0] is looked up in: the container's.
func searchPath(env []string) string {
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	return path
}
