package tree

import (
	"context"
	"errors"
	"fmt"
	"io"

	"coldstart/harness/matrix"
	"coldstart/harness/results"
	"coldstart/plan"
)

// Measurer boots kernels and returns one result file per target, in the
// order of targets, and leaves them in dir as <kernel name>.json (as
// matrix.Run does), where explain finds them later. An implementation must
// boot the targets alternately (boot 0 of every target, then boot 1, ...)
// so that drift of the machine during the call falls on all of them alike.
type Measurer interface {
	Measure(ctx context.Context, targets []matrix.Target, boots int, dir string) ([]*results.File, error)
}

// A Tracer is a Measurer that can also graph, in the kernel, n more
// iterations of each scenario after the timed ones (matrix.Options.Trace,
// package guest/trace), for explain. The timed samples are never traced.
type Tracer interface {
	Measurer
	// Traced returns a Measurer that measures like this one and then
	// traces n iterations per scenario and boot.
	Traced(n int) Measurer
}

// ErrCannotTrace is returned by Traced for a Measurer that is no Tracer.
var ErrCannotTrace = errors.New("this measurer cannot take kernel traces")

// Traced returns m made to trace n iterations per scenario and boot after
// the timed ones.
func Traced(m Measurer, n int) (Measurer, error) {
	t, ok := m.(Tracer)
	if !ok {
		return nil, fmt.Errorf("%w (%T)", ErrCannotTrace, m)
	}
	return t.Traced(n), nil
}

// QEMUMeasurer measures with matrix.Run, one VM at a time: matrix.Units
// orders the units boot-major (t0 boot 0, t1 boot 0, t0 boot 1, ...) and a
// single job takes them in that order, which is the alternation Measurer
// promises.
type QEMUMeasurer struct {
	Initrd string
	// Plan is what each target gets; Measure's boots replace its Boots.
	// Trace, when above 0, traces that many iterations per scenario after
	// the timed ones.
	plan.Plan
	Accel     string // "auto" probes KVM with the first kernel measured
	Clock     string // qemu.Options.Clock
	CPUs      int
	MemoryMB  int
	Append    []string
	Deadlines matrix.Deadlines
	Progress  io.Writer
	// CacheDir keeps the accelerator probe's answer (matrix.ProbeAccel),
	// so that only the first run on a host boots to ask; "" probes every
	// time.
	CacheDir string

	// run is matrix.Run; tests replace it.
	run func(context.Context, matrix.Options) ([]*results.File, error)
}

// Measure implements Measurer. A run in which some boots failed still
// returns its files (the boots that worked count); an error is returned
// only when a target has no good boot at all.
func (m *QEMUMeasurer) Measure(ctx context.Context, targets []matrix.Target, boots int, dir string) ([]*results.File, error) {
	progress := m.Progress
	if progress == nil {
		progress = io.Discard
	}
	if m.Accel == "" || m.Accel == "auto" {
		var why string
		m.Accel, why = matrix.ProbeAccel(ctx, targets[0], m.Initrd, m.CPUs, m.MemoryMB, m.CacheDir)
		fmt.Fprintf(progress, "accelerator: %s (%s)\n", m.Accel, why)
	}
	run := m.run
	if run == nil {
		run = matrix.Run
	}
	p := m.Plan
	p.Boots = boots
	files, err := run(ctx, matrix.Options{
		Targets: targets, Initrd: m.Initrd, Plan: p,
		Accel: m.Accel, Clock: m.Clock, CPUs: m.CPUs, MemoryMB: m.MemoryMB, Append: m.Append,
		Deadlines: m.Deadlines, OutDir: dir, Progress: progress,
		Jobs: 1, // strict alternation; see the type's comment
	})
	if err != nil && !errors.Is(err, matrix.ErrBootsFailed) {
		return files, err
	}
	for _, f := range files {
		if goodBoots(f) == 0 {
			return files, fmt.Errorf("%w: no boot of %s worked: %v", ErrBoot, f.Kernel.Name, err)
		}
	}
	return files, nil
}

// Traced implements Tracer: a copy of m with Trace n.
func (m *QEMUMeasurer) Traced(n int) Measurer {
	c := *m
	c.Trace = n
	return &c
}

// ErrBoot is wrapped when a kernel did not boot or its agent did not run.
var ErrBoot = errors.New("kernel did not boot")

func goodBoots(f *results.File) int {
	n := 0
	for _, b := range f.Boots {
		if b.Status == results.StatusOK {
			n++
		}
	}
	return n
}
