// Package matrix runs the kernel matrix: for each kernel, B boots of one
// initramfs, each running every scenario for I iterations after warm-ups,
// and writes one result file per kernel (package results) under the run
// directory, together with each boot's console log.
//
// Each kernel's result file is rewritten atomically after every boot and
// marked complete only at the end, so an interrupted run keeps everything
// measured so far.
//
// Environment: none directly (see harness/qemu and harness/kernels).
package matrix

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"coldstart/guest/agent"
	"coldstart/harness/kernels"
	"coldstart/harness/qemu"
	"coldstart/harness/results"
)

// Target is one kernel to run, with its verified image.
type Target struct {
	Kernel kernels.Kernel
	Image  *kernels.Image
}

// Options configure a matrix run.
type Options struct {
	Targets    []Target
	Initrd     string
	Scenarios  []string
	Boots      int
	Iterations int
	Warmups    int
	Accel      string // qemu.AccelKVM or qemu.AccelTCG, decided by the caller
	CPUs       int
	MemoryMB   int
	Append     []string // extra kernel command-line words
	Deadlines  Deadlines
	OutDir     string // the run directory
	Progress   io.Writer
}

// ErrBootsFailed is returned when the run finished but some boots failed.
var ErrBootsFailed = errors.New("some boots failed")

// Run runs the matrix and returns the result files written, in the order
// of the targets. On interruption (ctx cancelled) it returns what it has,
// with each file marked incomplete, and ctx's error.
func Run(ctx context.Context, o Options) ([]*results.File, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Deadlines == (Deadlines{}) {
		o.Deadlines = DefaultDeadlines()
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	var files []*results.File
	var failedBoots []string
	for _, t := range o.Targets {
		f, err := runKernel(ctx, o, t)
		if f != nil {
			files = append(files, f)
			for _, b := range f.Boots {
				if b.Status != results.StatusOK {
					failedBoots = append(failedBoots, fmt.Sprintf("%s boot %d: %s", t.Kernel.Name, b.Index, firstLine(b.Error)))
				}
			}
		}
		if err != nil {
			return files, err
		}
	}
	if len(failedBoots) > 0 {
		return files, fmt.Errorf("%w:\n  %s\n(console logs and the QEMU command lines are in %s)", ErrBootsFailed, strings.Join(failedBoots, "\n  "), o.OutDir)
	}
	return files, nil
}

func runKernel(ctx context.Context, o Options, t Target) (*results.File, error) {
	name := t.Kernel.Name
	f := &results.File{
		Schema: results.Schema,
		Kernel: results.Kernel{
			Name: name, Source: t.Kernel.Source, SHA256: t.Image.SHA256, Version: t.Kernel.Version,
			Release: t.Image.Release, Image: filepath.Base(t.Image.Boot()), PVH: t.Image.Vmlinux != "",
		},
		Accel:     o.Accel,
		Scenarios: map[string]*results.Scenario{},
		Plan: results.Plan{
			Scenarios: o.Scenarios, Boots: o.Boots, Iterations: o.Iterations, Warmups: o.Warmups,
			CPUs: o.CPUs, MemoryMB: o.MemoryMB, Append: o.Append,
		},
		Started: time.Now().UTC(),
	}
	f.Host, _ = os.Hostname()
	path := filepath.Join(o.OutDir, name+".json")
	logDir := filepath.Join(o.OutDir, name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("console log directory: %w", err)
	}
	plan := agent.DefaultPlan()
	plan.Scenarios, plan.Iterations, plan.Warmups = o.Scenarios, o.Iterations, o.Warmups
	boot1 := "PVH vmlinux"
	if t.Image.Vmlinux == "" {
		boot1 = "bzImage (" + t.Image.VmlinuxErr + ")"
	}
	fmt.Fprintf(o.Progress, "kernel %s: %d boots x %d iterations of %d scenarios, %s, %s\n",
		name, o.Boots, o.Iterations, len(o.Scenarios), o.Accel, boot1)
	var outcomes []*bootOutcome
	for b := 0; b < o.Boots; b++ {
		vmo := qemu.Options{
			Kernel: t.Image.Boot(), Initrd: o.Initrd, Accel: o.Accel, CPUs: o.CPUs, MemoryMB: o.MemoryMB,
			Append:     append(plan.Cmdline(), o.Append...),
			ConsoleLog: filepath.Join(logDir, fmt.Sprintf("boot-%d.console.log", b)),
		}
		progress := func(s string) { fmt.Fprintf(o.Progress, "  %s: %s\n", name, s) }
		out := boot(ctx, vmo, b, o.Deadlines, progress)
		if errors.Is(out.err, context.Canceled) || errors.Is(out.err, context.DeadlineExceeded) {
			out.rec.Status = results.StatusFailed
			out.rec.Error = "interrupted"
		}
		outcomes = append(outcomes, out)
		f.Boots = append(f.Boots, out.rec)
		merge(f, outcomes, o.Scenarios)
		if out.err != nil {
			progress(fmt.Sprintf("boot %d failed after %.1f s: %s", b, out.rec.DurationMS/1000, firstLine(out.err.Error())))
		} else {
			progress(fmt.Sprintf("boot %d done in %.1f s", b, out.rec.DurationMS/1000))
		}
		if ctx.Err() != nil {
			f.Finished = time.Now().UTC()
			if err := results.Write(path, f); err != nil {
				return f, err
			}
			return f, ctx.Err()
		}
		if err := results.Write(path, f); err != nil {
			return f, err
		}
	}
	f.Finished = time.Now().UTC()
	f.Complete = true
	if err := results.Write(path, f); err != nil {
		return f, err
	}
	return f, nil
}

// merge rebuilds f's scenarios from all boots so far.
func merge(f *results.File, outs []*bootOutcome, planned []string) {
	f.Scenarios = map[string]*results.Scenario{}
	for _, name := range planned {
		s := &results.Scenario{Status: results.StatusOK, Samples: []results.Sample{}}
		ran := false
		for _, out := range outs {
			if u, ok := out.unsupported[name]; ok {
				s.Status, s.Reason, s.Option = results.StatusUnsupported, u.Reason, u.Option
				ran = true
				continue
			}
			s.Samples = append(s.Samples, out.samples[name]...)
			if msg, ok := out.failed[name]; ok {
				s.Status = results.StatusFailed
				if s.Reason == "" {
					s.Reason = fmt.Sprintf("boot %d: %s", out.rec.Index, msg)
				}
			}
			if len(out.samples[name]) > 0 || out.failed[name] != "" {
				ran = true
			}
		}
		if !ran && s.Status == results.StatusOK {
			s.Status = results.StatusFailed
			s.Reason = "no boot reached this scenario"
		}
		f.Scenarios[name] = s
	}
	// Release as the guest saw it, from the first boot that said hello.
	for _, out := range outs {
		if out.hello != nil {
			f.Kernel.Release = out.hello.Release
			break
		}
	}
}

// Stamp names a run directory: UTC, sortable, no colons.
func Stamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// SortedScenarioNames lists a file's scenarios in plan order, then by name.
func SortedScenarioNames(f *results.File) []string {
	seen := map[string]bool{}
	var names []string
	for _, n := range f.Plan.Scenarios {
		if _, ok := f.Scenarios[n]; ok && !seen[n] {
			names = append(names, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range f.Scenarios {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(names, rest...)
}
