package container

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"coldstart/runtime/bundle"
	"coldstart/runtime/internal/linux"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// IsInit reports whether args (os.Args) start the init stage.
func IsInit(args []string) bool { return len(args) > 1 && args[1] == "init" }

// Init is the init stage's entry point: main calls it when IsInit. It
// never returns: it execs the container process or exits 1 after reporting
// the error to the parent.
func Init() {
	tMain := linux.Monotonic()
	// Credentials, capabilities, no_new_privs and seccomp are per thread:
	// everything from here to execve runs on this one thread.
	runtime.LockOSThread()
	linux.SetName("csrun:init")
	for _, fd := range []int{fdBootstrap, fdSync, fdStateDir} {
		unix.CloseOnExec(fd)
	}
	sync := os.NewFile(fdSync, "sync")
	send := func(m message) error {
		data, _ := json.Marshal(m)
		_, err := sync.Write(append(data, '\n'))
		return err
	}
	if err := initStage(tMain, send); err != nil {
		send(message{Type: "error", Error: err.Error()})
		os.Exit(1)
	}
	os.Exit(1) // not reached: initStage execs
}

type initSpans struct{ list []span }

func (s *initSpans) mark(name string, start int64) int64 {
	end := linux.Monotonic()
	s.list = append(s.list, span{name, start, end})
	return end
}

func initStage(tMain int64, send func(message) error) error {
	// Spans start at main; the parent adds init_start, from its
	// cmd.Start return (the init stage's execve done) to tMain.
	var sp initSpans
	t := tMain
	var boot bootstrap
	bf := os.NewFile(fdBootstrap, "bootstrap")
	if err := json.NewDecoder(bf).Decode(&boot); err != nil {
		return fmt.Errorf("read bootstrap: %w", err)
	}
	bf.Close()
	t = sp.mark(PhaseBootstrap, t)
	spec := boot.Spec
	if spec == nil || spec.Process == nil || spec.Linux == nil {
		return fmt.Errorf("bootstrap: incomplete spec")
	}

	// Process-wide settings that read the host's /proc: before the root switch.
	if spec.Process.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(fmt.Sprint(*spec.Process.OOMScoreAdj)), 0); err != nil {
			return fmt.Errorf("process.oomScoreAdj: %w", err)
		}
	}
	m := &mounter{rootfs: boot.Rootfs, spec: spec, userNS: boot.UserNS}
	if err := m.setupRootfs(); err != nil {
		return err
	}
	t = sp.mark(PhaseMounts, t)
	how, err := switchRoot(boot.Rootfs)
	if err != nil {
		return err
	}
	t = sp.mark(PhasePivotRoot, t)
	if err := m.finalize(); err != nil {
		return err
	}
	t = sp.mark(PhaseFinalize, t)
	if err := send(message{Type: "ready", Spans: sp.list, RootSwitch: how}); err != nil {
		return fmt.Errorf("report ready: %w", err)
	}
	sp.list = nil

	if boot.WaitStart {
		fd, err := unix.Openat(fdStateDir, "exec.fifo", unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open exec.fifo: %w", err)
		}
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			return fmt.Errorf("write exec.fifo: %w", err)
		}
		unix.Close(fd)
		t = sp.mark(PhaseWaitStart, t)
	}
	unix.Close(fdStateDir)

	p := spec.Process
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return fmt.Errorf("process.args[0]: %w", err)
	}
	if err := os.Chdir(p.Cwd); err != nil {
		return fmt.Errorf("process.cwd: %w", err)
	}
	for _, rl := range p.Rlimits {
		lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
		if err := unix.Prlimit(0, bundle.Rlimits[rl.Type], &lim, nil); err != nil {
			return fmt.Errorf("process.rlimits %s: %w", rl.Type, err)
		}
	}
	if p.User.Umask != nil {
		unix.Umask(int(*p.User.Umask))
	}
	// runc's order: without no_new_privs the filter must go in while we
	// still hold CAP_SYS_ADMIN; with it, as late as possible.
	loadSeccomp := func() error {
		if len(boot.BPF) == 0 {
			return nil
		}
		t0 := linux.Monotonic()
		if err := linux.LoadSeccomp(boot.BPF, boot.SeccompFlags); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
		sp.mark(PhaseSeccompLoad, t0)
		return nil
	}
	if !p.NoNewPrivileges {
		if err := loadSeccomp(); err != nil {
			return err
		}
		t = linux.Monotonic()
	}
	if err := setCredentials(p); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		if err := linux.SetNoNewPrivs(); err != nil {
			return err
		}
	}
	t = sp.mark(PhaseCredentials, t)
	if p.NoNewPrivileges {
		if err := loadSeccomp(); err != nil {
			return err
		}
	}
	// The latest span end is when execve begins; the parent closes the
	// exec phase when it sees the O_CLOEXEC sync pipe close.
	if !boot.WaitStart {
		send(message{Type: "exec", Spans: sp.list}) // a filter may deny write: best effort
	}
	err = unix.Exec(path, p.Args, p.Env)
	return fmt.Errorf("exec %s: %w", path, err)
}

func setCredentials(p *specs.Process) error {
	var caps linux.Caps
	if c := p.Capabilities; c != nil {
		for _, set := range []struct {
			names []string
			mask  *uint64
		}{{c.Bounding, &caps.Bounding}, {c.Effective, &caps.Effective}, {c.Permitted, &caps.Permitted},
			{c.Inheritable, &caps.Inheritable}, {c.Ambient, &caps.Ambient}} {
			for _, n := range set.names {
				*set.mask |= 1 << bundle.Capabilities[n]
			}
		}
	}
	last := linux.LastCap()
	for n := last + 1; n < 64; n++ {
		if (caps.Bounding|caps.Effective|caps.Permitted|caps.Inheritable|caps.Ambient)&(1<<n) != 0 {
			return fmt.Errorf("process.capabilities: capability %d is unknown to this kernel (last is %d)", n, last)
		}
	}
	if err := linux.DropBounding(caps, last); err != nil {
		return fmt.Errorf("process.capabilities.bounding: %w", err)
	}
	if err := linux.SetKeepCaps(true); err != nil {
		return err
	}
	if err := linux.SetIDs(p.User.UID, p.User.GID, p.User.AdditionalGids); err != nil {
		return fmt.Errorf("process.user: %w", err)
	}
	if err := linux.ApplyCaps(caps, last); err != nil {
		return fmt.Errorf("process.capabilities: %w", err)
	}
	return linux.SetKeepCaps(false)
}

// lookPath resolves name against PATH from env, inside the new root.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not found in PATH %s", name, path)
}
