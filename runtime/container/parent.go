package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"coldstart/runtime/bpfcache"
	"coldstart/runtime/bundle"
	"coldstart/runtime/cgroups"
	"coldstart/runtime/internal/initstage"
	"coldstart/runtime/internal/linux"
	"coldstart/runtime/seccomp"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// message is what the init stage sends the parent on fd 4.
type message struct {
	Type       string `json:"type"` // "ready", "exec" or "error"
	Spans      []span `json:"spans,omitempty"`
	RootSwitch string `json:"root_switch,omitempty"`
	// Errors: the failed operation of the program, errno and detail.
	Op    int    `json:"op"`
	Errno int    `json:"errno"`
	Error string `json:"error,omitempty"`
}

var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP,
}

// started is a container whose init stage reported ready.
type started struct {
	proc    *initProcess
	sync    *json.Decoder
	syncR   *os.File
	dir     string
	st      *stored
	timings *Timings
	base    int64
	prog    *initstage.Program
}

type seccompResult struct {
	prog  []byte
	flags uint
	how   string
	span  span
	err   error
}

// prepareSeccomp returns the BPF program for sc, from the cache if allowed.
func (r *Runtime) prepareSeccomp(sc *specs.LinuxSeccomp) seccompResult {
	res := seccompResult{how: "none"}
	if sc == nil {
		return res
	}
	for _, f := range sc.Flags {
		res.flags |= bundle.SeccompFlags[f]
	}
	t0 := linux.Monotonic()
	if r.opts.NoSeccompCache {
		res.prog, res.err = seccomp.Compile(sc)
		res.how, res.span = "compiled", span{PhaseSeccompCompile, t0, linux.Monotonic()}
		return res
	}
	in, err := bpfcache.HostKeyInputs(Version, seccomp.Version(), sc)
	if err != nil {
		res.err = err
		return res
	}
	key, err := bpfcache.Key(in)
	if err != nil {
		res.err = err
		return res
	}
	cache := bpfcache.New(filepath.Join(r.opts.Root, "cache", "seccomp"), r.opts.CacheMaxBytes)
	prog, err := cache.Get(key)
	if err == nil && linux.ValidateBPF(prog) == nil {
		res.prog, res.how, res.span = prog, "cache-hit", span{PhaseSeccompCache, t0, linux.Monotonic()}
		return res
	}
	res.how = "cache-miss"
	if errors.Is(err, bpfcache.ErrCorrupt) || err == nil {
		res.how = "cache-corrupt"
	}
	if res.prog, res.err = seccomp.Compile(sc); res.err == nil {
		if perr := cache.Put(key, res.prog); perr != nil {
			res.err = perr
		}
	}
	res.span = span{PhaseSeccompCompile, t0, linux.Monotonic()}
	return res
}

// spawn validates the bundle, spawns the init stage and waits for it to be
// ready. On error nothing is left behind.
func (r *Runtime) spawn(ctx context.Context, id, bundleDir string, waitStart bool) (_ *started, err error) {
	base := r.opts.Start
	if base == 0 {
		base = linux.Monotonic()
	}
	dir, err := r.dir(id)
	if err != nil {
		return nil, err
	}
	if waitStart {
		// The container outlives this process: a writer other than a file
		// would need a goroutine here to copy its output.
		for _, s := range []any{r.opts.Stdin, r.opts.Stdout, r.opts.Stderr} {
			if _, ok := s.(*os.File); !ok && s != nil {
				return nil, fmt.Errorf("create: container stdio must be files (got %T)", s)
			}
		}
	}
	b, err := bundle.Load(bundleDir)
	if err != nil {
		return nil, err
	}
	mounts, err := configMounts(b.Spec, b.Rootfs)
	if err != nil {
		return nil, err
	}
	var cgWrites []cgroups.Write
	var cgDevices []cgroups.DeviceRule
	if cgroups.Wanted(b.Spec.Linux) {
		if cgWrites, err = cgroups.Writes(b.Spec.Linux.Resources); err != nil {
			return nil, err
		}
		if cgDevices, err = cgroups.DeviceRules(b.Spec.Linux); err != nil {
			return nil, err
		}
	}
	parsed := span{PhaseParse, base, linux.Monotonic()}

	if err := os.MkdirAll(r.opts.Root, 0o700); err != nil {
		return nil, fmt.Errorf("state root: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%s: %w", id, ErrExist)
		}
		return nil, fmt.Errorf("state: %w", err)
	}
	var proc *initProcess
	var cgroupDir string
	defer func() {
		if err != nil {
			if proc != nil {
				proc.kill()
			}
			if cgroupDir != "" {
				cgroups.Remove(cgroupDir)
			}
			os.RemoveAll(dir)
		}
	}()
	if waitStart {
		if err := unix.Mkfifo(filepath.Join(dir, "exec.fifo"), 0o600); err != nil {
			return nil, fmt.Errorf("exec.fifo: %w", err)
		}
	}

	lin := b.Spec.Linux

	bootR, bootW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer bootR.Close()
	defer bootW.Close()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer syncW.Close()
	defer func() {
		if err != nil {
			syncR.Close()
		}
	}()
	stateDir, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer stateDir.Close()
	hooks := b.Spec.Hooks
	if hooks == nil {
		hooks = &specs.Hooks{}
	}
	files := []*os.File{bootR, syncW, stateDir}
	var resumeW *os.File
	syncHooks := len(hooks.Prestart)+len(hooks.CreateRuntime) > 0
	if syncHooks {
		resumeR, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		defer resumeR.Close()
		defer w.Close()
		files, resumeW = append(files, resumeR), w // fd initstage.FDResume
	}

	attr := &syscall.SysProcAttr{}
	userNS := false
	for _, ns := range lin.Namespaces {
		attr.Cloneflags |= nsFlags[ns.Type]
		userNS = userNS || ns.Type == specs.UserNamespace
	}
	if userNS {
		for _, m := range lin.UIDMappings {
			attr.UidMappings = append(attr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		for _, m := range lin.GIDMappings {
			attr.GidMappings = append(attr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		attr.GidMappingsEnableSetgroups = true
		// Become the namespace's root before exec'ing the init stage, or
		// execve would drop the capabilities clone gave us (host root is
		// unmapped in the new namespace).
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	var cgSpan span
	if cgroups.Wanted(lin) {
		t0 := linux.Monotonic()
		path, err := cgroups.Path(cgroups.Root, lin.CgroupsPath, id)
		if err != nil {
			return nil, fmt.Errorf("linux.cgroupsPath: %w", err)
		}
		cg, err := cgroups.Create(cgroups.Root, path, cgWrites, cgDevices)
		if err != nil {
			return nil, fmt.Errorf("linux.cgroupsPath %s: %w", path, err)
		}
		defer cg.Close()
		if cg.Created {
			cgroupDir = cg.Dir
		}
		// clone3(CLONE_INTO_CGROUP): the process starts in it, and a
		// cgroup namespace it asks for is rooted there.
		attr.UseCgroupFD, attr.CgroupFD = true, cg.FD
		cgSpan = span{PhaseCgroup, t0, linux.Monotonic()}
	}
	sio, err := newStdio(r.opts.Stdin, r.opts.Stdout, r.opts.Stderr)
	if err != nil {
		return nil, fmt.Errorf("container stdio: %w", err)
	}
	tClone := linux.Monotonic()
	proc, err = start("/proc/self/exe", []string{"csrun", "init"}, []string{initstage.Env}, sio,
		files, attr)
	if err != nil {
		return nil, fmt.Errorf("spawn init stage (clone with namespaces): %w", err)
	}
	cloned := span{PhaseNamespaces, tClone, linux.Monotonic()}
	bootR.Close()
	syncW.Close()
	stateDir.Close()

	// Seccomp preparation (a cache lookup, or libseccomp) runs while the
	// init stage execs and starts on the other CPU. (Not in a goroutine
	// during the clone: the fork is a raw vfork that keeps its P, and
	// cmd/csrun runs with one, so such a goroutine ran after it anyway.)
	sres := r.prepareSeccomp(lin.Seccomp)
	if sres.err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", sres.err)
	}
	ociState := specs.State{Version: specs.Version, ID: id, Pid: proc.pid, Bundle: b.Dir, Annotations: b.Spec.Annotations}
	plan := hookPlan{sync: syncHooks, createContainer: hooks.CreateContainer, startContainer: hooks.StartContainer,
		stateCreating: hookState(ociState, specs.StateCreating), stateCreated: hookState(ociState, specs.StateCreated)}
	prog := initProgram(b.Spec, b.Rootfs, mounts, plan, userNS, waitStart, r.opts.NoPivot, sres.prog, sres.flags)
	if _, err := bootW.Write(prog.Bytes()); err != nil {
		return nil, fmt.Errorf("send the program to the init stage: %w", err)
	}
	bootW.Close()

	s := &started{proc: proc, syncR: syncR, sync: json.NewDecoder(syncR), dir: dir, base: base, prog: prog}
	msg, err := s.next(ctx)
	if err != nil {
		return nil, err
	}
	var early []span // phases before the createRuntime hooks
	if msg.Type == "hooks" {
		early = msg.Spans
		t0 := linux.Monotonic()
		state := plan.stateCreating
		if err := runHooks(ctx, "hooks.prestart", hooks.Prestart, state, r.opts.Stdout, r.opts.Stderr); err != nil {
			return nil, err
		}
		if err := runHooks(ctx, "hooks.createRuntime", hooks.CreateRuntime, state, r.opts.Stdout, r.opts.Stderr); err != nil {
			return nil, err
		}
		early = append(early, span{PhaseHooks, t0, linux.Monotonic()})
		if _, err := resumeW.Write([]byte{1}); err != nil {
			return nil, fmt.Errorf("resume the init stage after the createRuntime hooks: %w", err)
		}
		resumeW.Close()
		if msg, err = s.next(ctx); err != nil {
			return nil, err
		}
	}
	if msg.Type != "ready" {
		return nil, fmt.Errorf("init: unexpected %q message", msg.Type)
	}
	t := &Timings{Version: 1, Runtime: "csrun", ID: id, Seccomp: sres.how, CacheHit: sres.how == "cache-hit",
		BPFInsns: len(sres.prog) / linux.SockFilterSize, RootSwitch: msg.RootSwitch, ClockMonotonic: true}
	t.add(base, parsed)
	if cgSpan.Name != "" {
		t.add(base, cgSpan)
	}
	if sres.span.Name != "" {
		t.add(base, sres.span)
	}
	t.add(base, cloned)
	if len(msg.Spans) > 0 {
		t.add(base, span{PhaseInitStart, cloned.End, msg.Spans[0].Start})
	}
	for _, sp := range append(early, msg.Spans...) {
		t.add(base, sp)
	}
	s.timings = t

	_, startTime, err := procStat(proc.pid)
	if err != nil {
		return nil, fmt.Errorf("init stage: %w", err)
	}
	s.st = &stored{
		State: specs.State{Version: specs.Version, ID: id, Status: specs.StateCreated, Pid: proc.pid,
			Bundle: b.Dir, Annotations: b.Spec.Annotations},
		StartTime: startTime, Created: time.Now().UTC(), Cgroup: cgroupDir,
		Poststart: hooks.Poststart, Poststop: hooks.Poststop,
	}
	if err := writeState(dir, s.st); err != nil {
		return nil, err
	}
	return s, nil
}

// next reads one message from the init stage.
func (s *started) next(ctx context.Context) (*message, error) {
	var msg message
	if err := s.sync.Decode(&msg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("init stage: %w", err)
	}
	if msg.Type == "error" {
		return nil, fmt.Errorf("init: %w", s.prog.Err(msg.Op, msg.Errno, msg.Error))
	}
	return &msg, nil
}

func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return os.Rename(tmp, path)
}

// Create sets a container up and leaves its init stage waiting for Start.
// The init stage keeps the caller's stdio.
func (r *Runtime) Create(ctx context.Context, id, bundleDir, pidFile string) error {
	s, err := r.spawn(ctx, id, bundleDir, true)
	if err != nil {
		if s == nil && errors.Is(err, io.EOF) {
			err = errors.New("init stage exited before it was ready")
		}
		return err
	}
	defer s.syncR.Close()
	if err := writePidFile(pidFile, s.st.Pid); err != nil {
		r.Delete(id, true)
		return err
	}
	// The init stage outlives us (it is reparented when we exit).
	if r.opts.PhaseTimings != "" {
		s.timings.TotalNS = linux.Monotonic() - s.base
		return s.timings.write(r.opts.PhaseTimings)
	}
	return nil
}

// ExitError carries the container process's exit status from Run.
type ExitError struct{ Status int }

func (e *ExitError) Error() string { return fmt.Sprintf("container exited with status %d", e.Status) }

// Run creates and starts a container, waits for it and deletes it. It
// returns nil if the container process exited 0, an *ExitError with its
// status (128+n for signal n) otherwise, or another error if it could not
// be run.
func (r *Runtime) Run(ctx context.Context, id, bundleDir, pidFile string) error {
	s, err := r.spawn(ctx, id, bundleDir, false)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("init stage exited before it was ready")
		}
		return err
	}
	defer s.syncR.Close()
	// Last, once the state and cgroup are gone.
	defer warnHooks("hooks.poststop", s.st.Poststop, hookState(s.st.State, specs.StateStopped), r.opts.Stdout, r.opts.stderr())
	defer os.RemoveAll(s.dir)
	if s.st.Cgroup != "" {
		defer cgroups.Remove(s.st.Cgroup)
	}
	if err := writePidFile(pidFile, s.st.Pid); err != nil {
		s.proc.kill()
		return err
	}
	// Forward the usual termination signals to the container.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	defer signal.Stop(sigs)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case sig := <-sigs:
				s.proc.signal(sig.(unix.Signal))
			case <-stop:
				return
			}
		}
	}()

	// "exec" message, then EOF when execve closes the O_CLOEXEC pipe.
	msg, err := s.next(ctx)
	switch {
	case err == nil && msg.Type == "exec":
		for _, sp := range msg.Spans {
			s.timings.add(s.base, sp)
		}
		execStart := int64(0)
		for _, sp := range msg.Spans {
			execStart = max(execStart, sp.End)
		}
		if _, err2 := s.next(ctx); !errors.Is(err2, io.EOF) {
			s.proc.kill()
			if err2 == nil {
				err2 = errors.New("init: unexpected message after exec")
			}
			return err2
		}
		end := linux.Monotonic()
		s.timings.add(s.base, span{PhaseExec, execStart, end})
		s.timings.TotalNS = end - s.base
		if r.opts.PhaseTimings != "" {
			if err := s.timings.write(r.opts.PhaseTimings); err != nil {
				fmt.Fprintf(r.opts.stderr(), "csrun: phase timings: %v\n", err)
			}
		}
		warnHooks("hooks.poststart", s.st.Poststart, hookState(s.st.State, specs.StateRunning), r.opts.Stdout, r.opts.stderr())
	case errors.Is(err, io.EOF):
		// The init stage died without a word (e.g. killed by seccomp).
	default:
		s.proc.kill()
		return err
	}
	ws, err := s.proc.wait()
	switch {
	case err != nil:
		return fmt.Errorf("wait: %w", err)
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Exited():
		return &ExitError{Status: ws.ExitStatus()}
	case ws.Signaled():
		return &ExitError{Status: 128 + int(ws.Signal())}
	}
	return fmt.Errorf("wait: status %#x", ws)
}

func (o Options) stderr() io.Writer {
	if o.Stderr != nil {
		return o.Stderr
	}
	return io.Discard
}
