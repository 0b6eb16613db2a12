// Package runtimes runs, in the guest, the scenarios that time the OCI
// runtimes the initramfs carries (coldstart's csrun, crun, runc; the
// runtime itself is runtime/ and cmd/csrun): whole-container runs, a full
// OCI `run` of a bundle to exit, teardown included, with or without seccomp
// and, for csrun, with its cache of compiled filters; and csrun's seccomp
// steps (seccomp.go).
//
// Scenario names are stable identifiers (package plan):
// oci-run/<runtime>/<seccomp> with runtime in csrun, crun, runc and seccomp
// in none, default, cached (csrun only). Bundles live under
// plan.BundleDir/<none|default>; both hold a tiny static program that exits 0 at once, so what is timed is the
// runtime and the kernel, not the workload.
//
// isolation/<runtime> runs the probe bundle (plan.BundleDir/probe), whose
// program checks from inside that the runtime isolated it as the bundle
// asked (guest/probe); a leak fails the scenario with the probe's report.
// It is a check, not a benchmark, so not among the default scenarios.
//
// A sample's wall_ns spans fork of the runtime to its reaping; op_ns is the
// same (the run is the operation); user_ns and sys_ns are the runtime's
// rusage (children included). csrun's per-phase timings come along.
//
// Environment: none; paths are fixed by the initramfs layout.
package runtimes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"coldstart/event"
	"coldstart/plan"
)

// StateDir holds the runtimes' state (their --root).
const StateDir = "/run/coldstart"

// Scenario is one runtime x seccomp combination.
type Scenario struct {
	Name    string
	Runtime string
	Path    string
	Seccomp string
	// ExtraArgs are global runtime flags (before the command).
	ExtraArgs []string
	// Probe runs the probe bundle instead of the exit-0 one.
	Probe bool
}

// ErrNotSupported marks a scenario this guest cannot run.
var ErrNotSupported = errors.New("not supported here")

// Lookup returns the container run or isolation check called name (see
// package plan for the names).
func Lookup(name string) (Scenario, error) {
	if k := plan.KindOf(name); k != plan.ContainerRun && k != plan.IsolationCheck {
		return Scenario{}, fmt.Errorf("unknown container scenario %q (want oci-run/<runtime>/<seccomp>, one of %s)", name, strings.Join(plan.ContainerRuns(), ", "))
	}
	c, err := plan.Lookup(name)
	if err != nil {
		return Scenario{}, err
	}
	return Scenario{Name: name, Runtime: c.Runtime.Name, Path: c.Runtime.Path, Seccomp: c.Seccomp, Probe: c.Kind == plan.IsolationCheck}, nil
}

func (s Scenario) bundle() string {
	if s.Probe {
		return filepath.Join(plan.BundleDir, "probe")
	}
	mode := s.Seccomp
	if mode == plan.SeccompCached {
		mode = plan.SeccompDefault
	}
	return filepath.Join(plan.BundleDir, mode)
}

func (s Scenario) root() string { return filepath.Join(StateDir, s.Runtime) }

// Check says whether the guest can run s: the runtime binary and the bundle
// must be in the initramfs, and cgroup2 must be mounted.
func (s Scenario) Check() error {
	if _, err := os.Stat(s.Path); err != nil {
		return fmt.Errorf("%w: %s is not in the initramfs (%v)", ErrNotSupported, s.Runtime, err)
	}
	if _, err := os.Stat(filepath.Join(s.bundle(), "config.json")); err != nil {
		return fmt.Errorf("%w: bundle %s is not in the initramfs (%v)", ErrNotSupported, s.bundle(), err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("%w: no cgroup2 hierarchy on /sys/fs/cgroup (the runtimes need one; kernel option CONFIG_CGROUPS)", ErrNotSupported)
	}
	return os.MkdirAll(s.root(), 0o700)
}

// Run runs the bundle once, to exit. iter makes the container id unique.
func (s Scenario) Run(ctx context.Context, iter int) (event.Sample, error) {
	id := fmt.Sprintf("cs-%d-%d", os.Getpid(), iter)
	args := append([]string{"--root", s.root()}, s.ExtraArgs...)
	var phaseFile string
	if s.Runtime == "csrun" {
		phaseFile = filepath.Join(StateDir, "phases.json")
		os.Remove(phaseFile)
		args = append(args, "--phase-timings", phaseFile)
		if s.Seccomp != plan.SeccompCached {
			args = append(args, "--no-seccomp-cache")
		}
	}
	args = append(args, "run", "--bundle", s.bundle(), id)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Path, args...)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		s.cleanup(id)
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		if opt := missingOption(msg); opt != "" {
			return event.Sample{}, fmt.Errorf("%w: %s needs %s, which this kernel lacks: %s", ErrNotSupported, s.Runtime, opt, msg)
		}
		return event.Sample{}, fmt.Errorf("%s %s: %v: %s", s.Runtime, strings.Join(args, " "), err, msg)
	}
	smp := event.Sample{WallNS: wall.Nanoseconds(), OpNS: wall.Nanoseconds()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		smp.UserNS = ru.Utime.Nano()
		smp.SysNS = ru.Stime.Nano()
	}
	if phaseFile != "" {
		if b, err := os.ReadFile(phaseFile); err == nil {
			smp.Phases = parsePhases(b)
		}
	}
	return smp, nil
}

// missingOption recognizes a runtime failure caused by a kernel option
// the guest lacks: crun writes /proc/self/setgroups, which exists only with
// CONFIG_USER_NS, even for a container without a user namespace.
func missingOption(msg string) string {
	if strings.Contains(msg, "/proc/self/setgroups") {
		if _, err := os.Stat("/proc/self/ns/user"); err != nil {
			return "CONFIG_USER_NS"
		}
	}
	return ""
}

// cleanup removes what a failed run may have left.
func (s Scenario) cleanup(id string) {
	exec.Command(s.Path, "--root", s.root(), "delete", "-f", id).Run()
}

// parsePhases reads csrun's phase timings: a JSON object whose numeric
// fields ending in "_ns" are durations; other fields (booleans such as a
// cache hit) become 0/1 under their own name.
func parsePhases(b []byte) map[string]int64 {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil
	}
	out := map[string]int64{}
	// csrun's phases: [{"name": "mounts", "start_ns": .., "dur_ns": ..}, ...]
	if ps, ok := raw["phases"].([]any); ok {
		for _, p := range ps {
			m, _ := p.(map[string]any)
			name, _ := m["name"].(string)
			dur, ok := m["dur_ns"].(float64)
			if name != "" && ok {
				out[name+"_ns"] += int64(dur)
			}
		}
	}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			switch x := v.(type) {
			case float64:
				out[prefix+k] = int64(x)
			case bool:
				if x {
					out[prefix+k] = 1
				} else {
					out[prefix+k] = 0
				}
			case map[string]any:
				walk(prefix+k+".", x)
			}
		}
	}
	walk("", raw)
	return out
}
