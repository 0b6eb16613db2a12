package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"coldstart/internal/atomicfile"
	"coldstart/runtime/cgroups"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Version is csrun's version; it is part of the BPF cache key.
const Version = "0.1.0"

// DefaultRoot is the state root when Options.Root is empty.
const DefaultRoot = "/run/csrun"

// Sentinel errors callers branch on.
var (
	ErrNotExist   = errors.New("container does not exist")
	ErrExist      = errors.New("container already exists")
	ErrNotRunning = errors.New("container is not running")
	ErrRunning    = errors.New("container is still running")
	ErrNotCreated = errors.New("container is not in the created state")
)

// Options configure a Runtime.
type Options struct {
	Root           string // state root; DefaultRoot if empty
	NoSeccompCache bool   // always compile with libseccomp, never read or write the cache
	CacheMaxBytes  int64  // bound of <root>/cache/seccomp; bpfcache.DefaultMaxBytes if 0
	PhaseTimings   string // if set, write the start-up phase timings (JSON) to this file
	// NoPivot switches to the rootfs with mount --move and chroot instead
	// of pivot_root(2), as runc's --no-pivot: for a runtime running on an
	// initramfs, where pivot_root fails. Less safe; never a silent fallback.
	NoPivot        bool
	Stdin          io.Reader // container stdio; nil means /dev/null. Create
	Stdout, Stderr io.Writer // needs *os.File (or nil): the container outlives it
	// Start is the CLOCK_MONOTONIC time (linux.Monotonic) the command began;
	// phases are reported relative to it. Zero means "when the call began".
	Start int64
}

// Runtime runs containers under one state root.
type Runtime struct {
	opts Options
}

// New returns a Runtime for opts.
func New(opts Options) *Runtime {
	if opts.Root == "" {
		opts.Root = DefaultRoot
	}
	return &Runtime{opts: opts}
}

// validID reports whether id matches ^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$.
// It is written out rather than a regexp: compiling that regexp (the
// {0,127} unrolls into 127 states) cost 4-13 ms of package init in every
// csrun process, the init stage included.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '+' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func (r *Runtime) dir(id string) (string, error) {
	if !validID(id) || id == "cache" {
		return "", fmt.Errorf("invalid container id %q (want [A-Za-z0-9][A-Za-z0-9_.+-]*, not \"cache\")", id)
	}
	return filepath.Join(r.opts.Root, id), nil
}

// stored is state.json: the OCI state plus what csrun needs to tell a live
// init from a reused pid.
type stored struct {
	specs.State
	StartTime uint64    `json:"csrun_start_time"` // /proc/<pid>/stat field 22
	Created   time.Time `json:"csrun_created"`
	Cgroup    string    `json:"csrun_cgroup,omitempty"` // cgroup directory csrun created
	// The hooks start and delete run, from config.json at create.
	Poststart []specs.Hook `json:"csrun_poststart,omitempty"`
	Poststop  []specs.Hook `json:"csrun_poststop,omitempty"`
}

func (r *Runtime) load(id string) (*stored, string, error) {
	dir, err := r.dir(id)
	if err != nil {
		return nil, "", err
	}
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(dir); serr == nil {
			return &stored{State: specs.State{Version: specs.Version, ID: id, Status: specs.StateCreating}}, dir, nil
		}
		return nil, "", fmt.Errorf("%s: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", id, err)
	}
	var st stored
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, "", fmt.Errorf("%s: state.json: %w", id, err)
	}
	st.Status = status(&st, dir)
	return &st, dir, nil
}

func status(st *stored, dir string) specs.ContainerState {
	if st.Pid <= 0 || !alive(st.Pid, st.StartTime) {
		return specs.StateStopped
	}
	if _, err := os.Lstat(filepath.Join(dir, "exec.fifo")); err == nil {
		return specs.StateCreated
	}
	return specs.StateRunning
}

// procStat returns the state letter and start time of pid.
func procStat(pid int) (byte, uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(data[i+2:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	start, err := strconv.ParseUint(f[19], 10, 64) // field 22 overall
	return f[0][0], start, err
}

func alive(pid int, start uint64) bool {
	state, st, err := procStat(pid)
	return err == nil && st == start && state != 'Z' && state != 'X'
}

// State returns the container's OCI state.
func (r *Runtime) State(id string) (*specs.State, error) {
	st, _, err := r.load(id)
	if err != nil {
		return nil, err
	}
	s := st.State
	if s.Status == specs.StateStopped {
		s.Pid = 0
	}
	return &s, nil
}

// Start releases a created container's init stage, which then execs the
// container process.
func (r *Runtime) Start(id string) error {
	st, dir, err := r.load(id)
	if err != nil {
		return err
	}
	if st.Status != specs.StateCreated {
		return fmt.Errorf("start %s: status %s: %w", id, st.Status, ErrNotCreated)
	}
	fifo := filepath.Join(dir, "exec.fifo")
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Blocks until init opens the fifo for writing (it does so
		// right after reporting ready).
		f, err := os.OpenFile(fifo, os.O_RDONLY, 0)
		if err != nil {
			done <- result{0, err}
			return
		}
		defer f.Close()
		b := make([]byte, 1)
		n, err := f.Read(b)
		done <- result{n, err}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			os.Remove(fifo)
			if res.n != 1 {
				return fmt.Errorf("start %s: init did not answer on exec.fifo: %v", id, res.err)
			}
			if len(st.Poststart) > 0 {
				// After the container process is executed: the init
				// stage still has startContainer hooks to run.
				waitExec(st.Pid, st.StartTime)
				warnHooks("hooks.poststart", st.Poststart, hookState(st.State, specs.StateRunning), r.opts.Stdout, r.opts.stderr())
			}
			return nil
		case <-tick.C:
			if !alive(st.Pid, st.StartTime) {
				// Unblock the reader by opening the write end ourselves.
				if w, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				<-done
				os.Remove(fifo)
				return fmt.Errorf("start %s: init exited before start: %w", id, ErrNotRunning)
			}
		}
	}
}

// waitExec waits until the init stage pid has executed the container
// process (its comm is no longer the stage's) or is gone.
func waitExec(pid int, startTime uint64) {
	comm := fmt.Sprintf("/proc/%d/comm", pid)
	for alive(pid, startTime) {
		data, err := os.ReadFile(comm)
		if err != nil || strings.TrimSpace(string(data)) != "csrun:init" {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// ParseSignal accepts "KILL", "SIGKILL" or "9".
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// Kill sends sig to the container's init process.
func (r *Runtime) Kill(id string, sig unix.Signal) error {
	st, _, err := r.load(id)
	if err != nil {
		return err
	}
	if st.Status != specs.StateRunning && st.Status != specs.StateCreated {
		return fmt.Errorf("kill %s: status %s: %w", id, st.Status, ErrNotRunning)
	}
	if err := unix.Kill(st.Pid, sig); err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	return nil
}

// Delete removes a stopped or created container's state. A running
// container is refused unless force, which kills it first.
func (r *Runtime) Delete(id string, force bool) error {
	st, dir, err := r.load(id)
	if err != nil {
		return err
	}
	switch st.Status {
	case specs.StateRunning:
		if !force {
			return fmt.Errorf("delete %s: %w (kill it first, or use --force)", id, ErrRunning)
		}
		fallthrough
	case specs.StateCreated:
		unix.Kill(st.Pid, unix.SIGKILL)
		deadline := time.Now().Add(5 * time.Second)
		for alive(st.Pid, st.StartTime) {
			if time.Now().After(deadline) {
				return fmt.Errorf("delete %s: pid %d survived SIGKILL for 5s", id, st.Pid)
			}
			time.Sleep(time.Millisecond)
		}
	case specs.StateCreating:
		if !force {
			return fmt.Errorf("delete %s: still being created (use --force)", id)
		}
	}
	if st.Cgroup != "" {
		if err := cgroups.Remove(st.Cgroup); err != nil {
			return fmt.Errorf("delete %s: cgroup: %w", id, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	warnHooks("hooks.poststop", st.Poststop, hookState(st.State, specs.StateStopped), r.opts.Stdout, r.opts.stderr())
	return nil
}

func writeState(dir string, st *stored) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "state.json"), data, 0o600)
}
