// Package matrix runs the kernel matrix: for each kernel, B boots of one
// initramfs, each running every scenario for I iterations after warm-ups,
// and writes one result file per kernel (package results) under the run
// directory, together with each boot's console log.
//
// The work is a list of units, one per kernel and boot. --jobs runs several
// units at once; --shard i/n takes a stable 1/n of the units, so that a CI
// engine can spread a large matrix over machines (Merge joins the shards);
// --resume skips the units a run directory already holds.
//
// Each kernel's result file is rewritten atomically after every boot and
// marked complete only when all its units are in, so an interrupted run keeps
// everything measured so far.
//
// With Options.Adaptive, once the planned boots are in, every kernel that
// has a baseline is compared with it (package compare), and kernels with an
// unknown verdict get one more boot each, round after round, until every
// scenario is decided or the kernel has MaxBoots boots (see adaptive.go).
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
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"coldstart/harness/kernels"
	"coldstart/harness/machine"
	"coldstart/harness/qemu"
	"coldstart/harness/results"
	"coldstart/internal/syncio"
	"coldstart/plan"
)

// Target is one kernel to run, with its verified image.
type Target struct {
	Kernel kernels.Kernel
	Image  *kernels.Image
}

// Options configure a matrix run.
type Options struct {
	Targets []Target
	Initrd  string
	// Plan is what each kernel gets (Trace, when above 0, for coldstart
	// explain). Run records it in the result files, with MaxBoots taken
	// from Adaptive and AddedBoots counted as boots are added: a caller
	// leaves those two 0.
	plan.Plan
	Accel string // qemu.AccelKVM or qemu.AccelTCG, decided by the caller
	// TCGThread is qemu.Options.TCGThread ("single" or "multi").
	TCGThread string
	// Clock is qemu.Options.Clock: "" or qemu.ClockWall, or
	// qemu.ClockVirtual (checked by the caller with qemu.CheckClock).
	Clock     string
	CPUs      int
	MemoryMB  int
	Append    []string // extra kernel command-line words
	Deadlines Deadlines
	OutDir    string // the run directory
	// Progress receives one line per event; Run serialises the writes.
	Progress io.Writer
	// Jobs is how many VMs run at once (default DefaultJobs).
	Jobs int
	// Shard, when set, runs only that slice of the units.
	Shard Shard
	// Resume keeps the boots already in OutDir's result files and runs only
	// the missing or failed ones.
	Resume bool
	// Adaptive, when set, adds boots to kernels whose comparison with their
	// baseline is unknown after the planned ones.
	Adaptive *Adaptive
	// Machine is this host's fingerprint, recorded in every result file
	// with Accel, CPUs and MemoryMB filled in; nil detects it
	// (machine.Detect). A resumed run refuses files from another machine
	// class.
	Machine *machine.Fingerprint

	// eta counts the boots of this invocation, for the time left.
	eta *eta
	// boot runs one VM; nil means the real one. Tests give a fake.
	boot func(ctx context.Context, vm qemu.Options, index int, dl Deadlines, progress func(string)) *bootOutcome
}

// DefaultJobs is one VM per cpus-vCPU slice of the host: each vCPU is a
// host thread under TCG, and oversubscribing the host perturbs the very
// timings being measured.
func DefaultJobs(cpus int) int {
	if cpus < 1 {
		cpus = 1
	}
	j := runtime.NumCPU() / cpus
	if j < 1 {
		j = 1
	}
	return j
}

// ErrBootsFailed is returned when the run finished but some boots failed.
var ErrBootsFailed = errors.New("some boots failed")

// Unit is one boot of one kernel.
type Unit struct {
	Kernel string
	Boot   int
}

// Units lists the work of a matrix in its stable order: kernels in the
// given order, boots in index order, interleaved (boot 0 of every kernel,
// then boot 1, ...) so that machine drift spreads over all kernels.
func Units(kernelNames []string, boots int) []Unit {
	var us []Unit
	for b := 0; b < boots; b++ {
		for _, k := range kernelNames {
			us = append(us, Unit{Kernel: k, Boot: b})
		}
	}
	return us
}

// kernelState is one kernel's file while the run goes on.
type kernelState struct {
	mu      sync.Mutex
	target  Target
	file    *results.File
	samples map[int]map[string][]results.Sample
	path    string
	logDir  string
	pending int // units of this kernel still to run in this invocation
}

// Run runs the matrix and returns the result files written, in the order
// of the targets. On interruption (ctx cancelled) it returns what it has,
// with each file marked incomplete, and ctx's error.
func Run(ctx context.Context, o Options) ([]*results.File, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	// Several VMs report at once.
	o.Progress = syncio.NewWriter(o.Progress)
	if o.Deadlines == (Deadlines{}) {
		o.Deadlines = DefaultDeadlines()
	}
	if o.Jobs < 1 {
		o.Jobs = DefaultJobs(o.CPUs)
	}
	if o.TCGThread == "" && o.Accel != qemu.AccelKVM {
		// What qemu.Options defaults to, recorded in the plan.
		o.TCGThread = "single"
	}
	if o.boot == nil {
		o.boot = boot
	}
	o.eta = &eta{}
	if o.Adaptive != nil {
		if !o.Shard.IsZero() {
			return nil, errors.New("adaptive runs need every boot of a kernel in one place: they cannot run in a shard")
		}
		if o.Adaptive.MaxBoots < o.Boots {
			return nil, fmt.Errorf("adaptive: at most %d boots is fewer than the %d planned", o.Adaptive.MaxBoots, o.Boots)
		}
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if o.Machine == nil {
		o.Machine = machine.Detect("", o.Accel, o.CPUs, o.MemoryMB)
	} else {
		fp := *o.Machine
		o.Machine = &fp
	}
	o.Machine.Accel, o.Machine.VCPUs, o.Machine.MemoryMB = o.Accel, o.CPUs, o.MemoryMB
	var names []string
	states := map[string]*kernelState{}
	for _, t := range o.Targets {
		st, err := newKernelState(o, t)
		if err != nil {
			return nil, err
		}
		names = append(names, t.Kernel.Name)
		states[t.Kernel.Name] = st
	}
	var todo []Unit
	for _, u := range o.Shard.Select(Units(names, o.Boots)) {
		st := states[u.Kernel]
		if o.Resume && st.hasGoodBoot(u.Boot) {
			continue
		}
		st.pending++
		todo = append(todo, u)
	}
	// Boots an adaptive run added before it was interrupted, interleaved
	// like the planned ones.
	for b := o.Boots; ; b++ {
		more := false
		for _, name := range names {
			st := states[name]
			if b >= st.file.Plan.Boots+st.file.Plan.AddedBoots {
				continue
			}
			more = true
			if !st.hasGoodBoot(b) {
				st.pending++
				todo = append(todo, Unit{Kernel: name, Boot: b})
			}
		}
		if !more {
			break
		}
	}
	if o.Resume {
		fmt.Fprintf(o.Progress, "resume: %d boots to run, the rest are already in %s\n", len(todo), o.OutDir)
	}
	for _, name := range names {
		st := states[name]
		if st.pending == 0 {
			// Nothing to run here (resumed or not in this shard): settle
			// its completeness from what is on disk.
			st.finish(o, names, true)
		}
	}

	runUnits(ctx, o, states, todo)
	if o.Adaptive != nil && ctx.Err() == nil {
		adapt(ctx, o, names, states)
	}

	var files []*results.File
	var failedBoots []string
	var writeErr error
	for _, name := range names {
		st := states[name]
		if err := st.finish(o, names, ctx.Err() == nil); err != nil && writeErr == nil {
			writeErr = err
		}
		files = append(files, st.file)
		for _, b := range st.file.Boots {
			if b.Status != results.StatusOK {
				failedBoots = append(failedBoots, fmt.Sprintf("%s boot %d: %s", name, b.Index, firstLine(b.Error)))
			}
		}
	}
	switch {
	case ctx.Err() != nil:
		return files, ctx.Err()
	case writeErr != nil:
		return files, writeErr
	case len(failedBoots) > 0:
		return files, fmt.Errorf("%w:\n  %s\n(console logs and the QEMU command lines are in %s)", ErrBootsFailed, strings.Join(failedBoots, "\n  "), o.OutDir)
	}
	return files, nil
}

// runUnits runs units on o.Jobs VMs at once and returns when all have run
// or ctx is done.
func runUnits(ctx context.Context, o Options, states map[string]*kernelState, todo []Unit) {
	o.eta.add(len(todo))
	units := make(chan Unit)
	var wg sync.WaitGroup
	for w := 0; w < o.Jobs && w < len(todo); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range units {
				runUnit(ctx, o, states[u.Kernel], u.Boot)
			}
		}()
	}
feed:
	for _, u := range todo {
		select {
		case units <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(units)
	wg.Wait()
}

func newKernelState(o Options, t Target) (*kernelState, error) {
	name := t.Kernel.Name
	st := &kernelState{
		target:  t,
		path:    filepath.Join(o.OutDir, name+".json"),
		logDir:  filepath.Join(o.OutDir, name),
		samples: map[int]map[string][]results.Sample{},
	}
	plan := results.Plan{
		Plan: o.Plan,
		CPUs: o.CPUs, MemoryMB: o.MemoryMB, Append: o.Append,
	}
	if o.Adaptive != nil {
		plan.MaxBoots = o.Adaptive.MaxBoots
	}
	if o.Accel != qemu.AccelKVM {
		plan.TCGThread = o.TCGThread
	}
	if o.Clock == qemu.ClockVirtual {
		plan.Clock, plan.ClockParams = o.Clock, qemu.ClockParams(o.Clock)
	}
	if o.Resume {
		old, err := results.Read(st.path)
		switch {
		case err == nil:
			if err := samePlan(old.Plan, plan); err != nil {
				return nil, fmt.Errorf("cannot resume %s: %w", st.path, err)
			}
			if old.Kernel.SHA256 != t.Image.SHA256 {
				return nil, fmt.Errorf("cannot resume %s: it ran kernel image %s, the kernel file now gives %s", st.path, old.Kernel.SHA256, t.Image.SHA256)
			}
			if err := sameMachine(old, o, st.path); err != nil {
				return nil, err
			}
			st.file = old
			// Keep only the good boots; failed ones run again.
			var keep []results.Boot
			all := old.SamplesByBoot()
			for _, b := range old.Boots {
				if b.Status == results.StatusOK {
					keep = append(keep, b)
					st.samples[b.Index] = all[b.Index]
				}
			}
			st.file.Boots = keep
			st.file.Complete = false
		case errors.Is(err, os.ErrNotExist):
		default:
			return nil, fmt.Errorf("cannot resume: %w", err)
		}
	}
	if st.file == nil {
		st.file = &results.File{
			Schema: results.Schema,
			Kernel: results.Kernel{
				Name: name, Source: t.Kernel.Source, SHA256: t.Image.SHA256, Version: t.Kernel.Version,
				Release: t.Image.Release, Image: filepath.Base(t.Image.Boot()), PVH: t.Image.Vmlinux != "",
			},
			Accel:   o.Accel,
			Plan:    plan,
			Started: time.Now().UTC(),
			Machine: o.Machine,
		}
		st.file.Host, _ = os.Hostname()
	}
	st.file.Shard = o.Shard.String()
	st.file.Rebuild(st.samples)
	if err := os.MkdirAll(st.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("console log directory: %w", err)
	}
	return st, nil
}

// sameMachine checks that a resumed run goes on on the machine class the
// first part ran on (package machine): boots of one kernel from two
// classes cannot be one sample. Other differences, and a file too old to
// say, are warned about on o.Progress.
func sameMachine(old *results.File, o Options, path string) error {
	d := results.CompareMachines(old, &results.File{Kernel: old.Kernel, Accel: o.Accel, Machine: o.Machine}, "the run", "this machine")
	if len(d.Class) > 0 {
		return fmt.Errorf("cannot resume %s: it was measured on another machine class (%s): resume it there, or start a new run",
			path, strings.Join(d.Class, "; "))
	}
	for _, w := range append(d.Other, d.Unknown...) {
		fmt.Fprintf(o.Progress, "resume: warning: %s: %s\n", path, w)
	}
	return nil
}

// samePlan checks that a resumed run asks for what the first part did.
func samePlan(a, b results.Plan) error {
	if !a.Same(b) {
		return fmt.Errorf("its plan (%s x %d iterations of %s) differs from this one (%s x %d of %s): resume with the same flags",
			planBoots(a), a.Iterations, strings.Join(a.Scenarios, ","), planBoots(b), b.Iterations, strings.Join(b.Scenarios, ","))
	}
	return nil
}

func planBoots(p results.Plan) string {
	if p.MaxBoots > 0 {
		return fmt.Sprintf("%d boots (adaptive, at most %d)", p.Boots, p.MaxBoots)
	}
	return fmt.Sprintf("%d boots", p.Boots)
}

func (st *kernelState) hasGoodBoot(i int) bool {
	for _, b := range st.file.Boots {
		if b.Index == i && b.Status == results.StatusOK {
			return true
		}
	}
	return false
}

func runUnit(ctx context.Context, o Options, st *kernelState, index int) {
	t := st.target
	name := t.Kernel.Name
	progress := func(s string) { fmt.Fprintf(o.Progress, "  %s: %s\n", name, s) }
	if index == 0 || o.Jobs > 1 {
		how := "PVH vmlinux"
		if t.Image.Vmlinux == "" {
			how = "bzImage (" + t.Image.VmlinuxErr + ")"
		}
		st.mu.Lock()
		boots := st.file.Plan.Boots + st.file.Plan.AddedBoots
		st.mu.Unlock()
		progress(fmt.Sprintf("boot %d of %d: %d scenarios x %d iterations, %s, %s", index, boots, len(o.Scenarios), o.Iterations, o.Accel, how))
	}
	vmo := qemu.Options{
		Kernel: t.Image.Boot(), Initrd: o.Initrd, Accel: o.Accel, TCGThread: o.TCGThread, Clock: o.Clock, CPUs: o.CPUs, MemoryMB: o.MemoryMB,
		Append:     append(o.Plan.Cmdline(), o.Append...),
		ConsoleLog: filepath.Join(st.logDir, fmt.Sprintf("boot-%d.console.log", index)),
	}
	out := o.boot(ctx, vmo, index, o.Deadlines, progress)
	if errors.Is(out.err, context.Canceled) || errors.Is(out.err, context.DeadlineExceeded) {
		out.rec.Status = results.StatusFailed
		out.rec.Error = "interrupted"
	}
	where := o.eta.finished()
	if out.err != nil {
		progress(fmt.Sprintf("boot %d failed after %.1f s: %s (%s)", index, out.rec.DurationMS/1000, firstLine(out.err.Error()), where))
	} else {
		progress(fmt.Sprintf("boot %d done in %.1f s (%s)", index, out.rec.DurationMS/1000, where))
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	st.file.Boots = append(st.file.Boots, out.rec)
	st.samples[index] = out.samples
	st.pending--
	st.file.Rebuild(st.samples)
	if err := results.Write(st.path, st.file); err != nil {
		progress(fmt.Sprintf("cannot save boot %d: %v", index, err))
	}
}

// finish marks the file complete when every unit of this invocation ran
// (and every boot of the plan in this shard, added ones included, is good
// or recorded), then writes it. names are all the kernels of the matrix,
// which decide the shard's units.
func (st *kernelState) finish(o Options, names []string, allRan bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.file.Rebuild(st.samples)
	have := map[int]bool{}
	for _, b := range st.file.Boots {
		have[b.Index] = true
	}
	complete := allRan && st.pending == 0
	name := st.target.Kernel.Name
	for _, u := range o.Shard.Select(Units(names, o.Boots)) {
		if u.Kernel == name && !have[u.Boot] {
			complete = false
		}
	}
	for b := o.Boots; b < st.file.Plan.Boots+st.file.Plan.AddedBoots; b++ {
		if !have[b] {
			complete = false
		}
	}
	st.file.Complete = complete
	st.file.Finished = time.Now().UTC()
	return results.Write(st.path, st.file)
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
