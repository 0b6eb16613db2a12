package runtimes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"coldstart/event"
	"coldstart/plan"
)

// SeccompStep is one seccomp scenario: a step a runtime takes from a
// profile to an installed filter, timed by csrun in a fresh process (csrun
// bench-seccomp): op_ns is the step, wall_ns the whole process.
type SeccompStep struct {
	Name, Step, CSRun, Profile string
}

// LookupSeccomp returns the seccomp scenario name.
func LookupSeccomp(name string) (SeccompStep, error) {
	if plan.KindOf(name) != plan.SeccompStep {
		return SeccompStep{}, fmt.Errorf("unknown seccomp scenario %q (want one of %s)", name, strings.Join(plan.SeccompSteps(), ", "))
	}
	c, err := plan.Lookup(name)
	if err != nil {
		return SeccompStep{}, err
	}
	return SeccompStep{Name: name, Step: strings.TrimPrefix(name, "seccomp-"), CSRun: c.Runtime.Path, Profile: plan.ProfilePath}, nil
}

// Check says whether the guest has csrun and the profile.
func (s SeccompStep) Check() error {
	for _, p := range []string{s.CSRun, s.Profile} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w: %s is not in the initramfs", ErrNotSupported, p)
		}
	}
	return nil
}

// Run times the step once.
func (s SeccompStep) Run(ctx context.Context) (event.Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.CSRun, "bench-seccomp", s.Step, s.Profile)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "seccomp(2)") && strings.Contains(msg, "invalid argument") {
			return event.Sample{}, fmt.Errorf("%w: %s (kernel option CONFIG_SECCOMP_FILTER)", ErrNotSupported, msg)
		}
		return event.Sample{}, fmt.Errorf("csrun bench-seccomp %s: %v: %s", s.Step, err, msg)
	}
	var r struct {
		OpNS  int64 `json:"op_ns"`
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return event.Sample{}, fmt.Errorf("csrun bench-seccomp %s printed %q: %v", s.Step, out.String(), err)
	}
	smp := event.Sample{WallNS: wall.Nanoseconds(), OpNS: r.OpNS, Phases: map[string]int64{"count": r.Count}}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		smp.UserNS = ru.Utime.Nano()
		smp.SysNS = ru.Stime.Nano()
	}
	return smp, nil
}
