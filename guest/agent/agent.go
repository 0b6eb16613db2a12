// Package agent is the benchmark agent that runs inside the guest.
//
// It starts as u-root's uinit, reads its plan from the kernel command line
// (plan.Parse), describes the guest in a hello event, runs each scenario's
// warm-ups and timed iterations, streams the samples to the host as framed
// events (package event) on a serial port of their own, and ends with a done
// event. The console gets a line per scenario, for people.
//
// Environment: none; everything comes from the kernel command line and
// /proc and /sys.
package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"coldstart/event"
	"coldstart/guest/runtimes"
	"coldstart/guest/scenario"
	"coldstart/guest/trace"
	"coldstart/plan"
	"coldstart/stats"
)

// Options is what Run needs from its surroundings; tests fill it with
// buffers and a temporary /proc and /sys.
type Options struct {
	Boot    plan.Boot
	Events  io.Writer
	Console io.Writer
	// ProcDir and SysDir default to /proc and /sys.
	ProcDir, SysDir string
	// Notes are sent as log events after hello (e.g. what PrepareGuest
	// could not do).
	Notes []string
	// TraceDir is tracefs for Boot.Trace (default: /sys/kernel/tracing,
	// mounted if absent; tests give a directory of plain files).
	TraceDir string

	// onTimed, when set, is called before each timed iteration (tests
	// check there that nothing traces).
	onTimed func(scenario string, iter int)
}

// Run carries out the plan. It returns an error only when the event stream
// itself failed; a failing scenario is reported to the host and the run goes
// on.
func Run(ctx context.Context, o Options) error {
	if o.ProcDir == "" {
		o.ProcDir = "/proc"
	}
	if o.SysDir == "" {
		o.SysDir = "/sys"
	}
	if o.Console == nil {
		o.Console = io.Discard
	}
	enc := event.NewEncoder(o.Events)
	hello := Describe(o.ProcDir, o.SysDir)
	if err := enc.Encode(&event.Event{Type: event.TypeHello, Hello: hello}); err != nil {
		return err
	}
	fmt.Fprintf(o.Console, "csagent: kernel %s, %d CPUs, clocksource %s (resolution %d ns)\n",
		hello.Release, hello.NumCPU, hello.Clocksource, hello.ClockResNS)

	for _, n := range o.Notes {
		if err := enc.Encode(&event.Event{Type: event.TypeLog, Log: n}); err != nil {
			return err
		}
	}

	switch o.Boot.Fault {
	case "crash":
		fmt.Fprintln(o.Console, "csagent: fault=crash: exiting without a done event")
		return errors.New("fault=crash")
	case "hang":
		fmt.Fprintln(o.Console, "csagent: fault=hang: stopping here")
		<-ctx.Done()
		return ctx.Err()
	case "garbage":
		fmt.Fprintln(o.Console, "csagent: fault=garbage: writing noise on the event port")
		if _, err := o.Events.Write([]byte("cs1 9 9 deadbeef {not json}\n\x00\xff garbage\n")); err != nil {
			return err
		}
	}

	var runErr error
	// The settle and calibration after one scenario serve as those before
	// the next: nothing runs between them, and a second wait for an idle
	// guest cost at least settleWindow a scenario (2 s a boot) for nothing.
	var last *between
	if err := scenario.Prepare(); err != nil {
		runErr = fmt.Errorf("prepare scenarios: %w", err)
	}
	for _, name := range o.Boot.Scenarios {
		if runErr != nil || ctx.Err() != nil {
			break
		}
		if err := runScenario(ctx, enc, o, name, &last); err != nil {
			runErr = err
		}
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	done := &event.Done{Sent: enc.Sent()}
	if runErr != nil {
		done.Error = runErr.Error()
	}
	if err := enc.Encode(&event.Event{Type: event.TypeDone, Done: done}); err != nil {
		return err
	}
	fmt.Fprintf(o.Console, "csagent: done, %d events sent\n", done.Sent+1)
	return nil
}

// job is one scenario as the agent runs it.
type job struct {
	name  string
	check func() (*event.Unsupported, error)
	run   func(ctx context.Context, iter int) (event.Sample, error)
}

func lookup(name string) (*job, error) {
	switch plan.KindOf(name) {
	case plan.SeccompStep:
		c, err := runtimes.LookupSeccomp(name)
		if err != nil {
			return nil, err
		}
		return containerJob(name, c.Check, func(ctx context.Context, _ int) (event.Sample, error) { return c.Run(ctx) }), nil
	case plan.ContainerRun, plan.IsolationCheck:
		c, err := runtimes.Lookup(name)
		if err != nil {
			return nil, err
		}
		return containerJob(name, c.Check, c.Run), nil
	}
	s, err := scenario.Lookup(name)
	if err != nil {
		return nil, err
	}
	return &job{
		name: name,
		check: func() (*event.Unsupported, error) {
			err := s.Check()
			var ue *scenario.UnsupportedError
			if errors.As(err, &ue) {
				return &event.Unsupported{Scenario: name, Option: ue.Option, Reason: err.Error()}, nil
			}
			return nil, err
		},
		run: func(ctx context.Context, iter int) (event.Sample, error) {
			x, err := s.Run()
			var ue *scenario.UnsupportedError
			if errors.As(err, &ue) {
				return event.Sample{}, err
			}
			x.Iter = iter
			return x, err
		},
	}, nil
}

// containerJob adapts a scenario that runs a program in the guest.
func containerJob(name string, check func() error, run func(context.Context, int) (event.Sample, error)) *job {
	return &job{
		name: name,
		check: func() (*event.Unsupported, error) {
			if err := check(); err != nil {
				if errors.Is(err, runtimes.ErrNotSupported) {
					return &event.Unsupported{Scenario: name, Reason: err.Error()}, nil
				}
				return nil, err
			}
			return nil, nil
		},
		run: func(ctx context.Context, iter int) (event.Sample, error) {
			s, err := run(ctx, iter)
			s.Iter = iter
			return s, err
		},
	}
}

// runScenario runs one scenario. Errors from the scenario itself are sent as
// a failed event; only event-stream errors are returned.
// runScenario runs one scenario. *last is the settle and calibration just
// taken after the previous scenario, if nothing ran since: it stands for
// this one's before. A scenario that runs sets it to its after, or to nil
// when something ran after that; one unknown or unsupported leaves it (its
// check only reads files).
func runScenario(ctx context.Context, enc *event.Encoder, o Options, name string, last **between) error {
	j, err := lookup(name)
	if err != nil {
		return enc.Encode(&event.Event{Type: event.TypeFailed, Scenario: name, Failed: err.Error()})
	}
	u, err := j.check()
	if err != nil {
		return failed(enc, o, name, fmt.Errorf("check: %w", err))
	}
	if u != nil {
		fmt.Fprintf(o.Console, "csagent: %s unsupported: %s\n", name, u.Reason)
		return enc.Encode(&event.Event{Type: event.TypeUnsupported, Unsupported: u})
	}
	before := *last
	*last = nil
	if err := enc.Encode(&event.Event{Type: event.TypeScenario, Scenario: name}); err != nil {
		return err
	}
	cal := &event.Calibration{Scenario: name}
	if before == nil {
		before = measure(ctx, o.ProcDir)
	} else {
		cal.Shared = true
	}
	before.addTo(cal)
	start := time.Now()
	for i := 0; i < o.Boot.WarmupsFor(name); i++ {
		if _, err := j.run(ctx, -1-i); err != nil {
			return unsupportedOrFailed(enc, o, name, fmt.Errorf("warm-up %d: %w", i, err))
		}
	}
	iterations := o.Boot.IterationsFor(name)
	batch := make([]event.Sample, 0, o.Boot.Batch)
	walls := make([]int64, 0, iterations)
	var timedState []string // tracefs state before and after the timed loop
	if o.Boot.Trace > 0 {
		timedState = append(timedState, trace.Describe(o.TraceDir))
	}
	for i := 0; i < iterations; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if o.onTimed != nil {
			o.onTimed(name, i)
		}
		smp, err := j.run(ctx, i)
		if err != nil {
			if len(batch) > 0 {
				if err := enc.Encode(&event.Event{Type: event.TypeSamples, Scenario: name, Samples: batch}); err != nil {
					return err
				}
			}
			return unsupportedOrFailed(enc, o, name, fmt.Errorf("iteration %d: %w", i, err))
		}
		smp.Iter = i
		walls = append(walls, smp.WallNS)
		batch = append(batch, smp)
		if len(batch) == cap(batch) || i == iterations-1 {
			if err := enc.Encode(&event.Event{Type: event.TypeSamples, Scenario: name, Samples: batch}); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	took := time.Since(start)
	after := measure(ctx, o.ProcDir)
	after.addTo(cal)
	if o.Boot.Trace == 0 {
		*last = after
	}
	if err := enc.Encode(&event.Event{Type: event.TypeCalibration, Calibration: cal}); err != nil {
		return err
	}
	fmt.Fprintf(o.Console, "csagent: %-22s %3d iterations in %v, median wall %v, calibration %v\n",
		name, len(walls), took.Round(time.Millisecond), medianNS(walls).Round(time.Microsecond), medianNS(cal.LoopNS).Round(time.Microsecond))
	if cal.Unsettled > 0 {
		msg := fmt.Sprintf("%s: the guest was still busy after waiting %v for it to go idle", name, settleMax)
		fmt.Fprintln(o.Console, "csagent: "+msg)
		if err := enc.Encode(&event.Event{Type: event.TypeLog, Log: msg}); err != nil {
			return err
		}
	}
	if o.Boot.Trace > 0 {
		return traceScenario(ctx, enc, o, j, append(timedState, trace.Describe(o.TraceDir)))
	}
	return nil
}

// traceScenario graphs Boot.Trace more iterations in the kernel, after the
// timed ones, and sends the aggregate. Tracing never fails a scenario.
func traceScenario(ctx context.Context, enc *event.Encoder, o Options, j *job, timedState []string) error {
	start := time.Now()
	tr := trace.Pass(trace.Options{Dir: o.TraceDir, Mount: o.TraceDir == ""}, j.name, o.Boot.Trace, func(i int) error {
		_, err := j.run(ctx, o.Boot.Iterations+i)
		return err
	})
	tr.Timed = timedState
	fmt.Fprintf(o.Console, "csagent: %-22s traced %d iterations in %v: %s\n",
		j.name, tr.Iterations, time.Since(start).Round(time.Millisecond), tr.Summary())
	return enc.Encode(&event.Event{Type: event.TypeTrace, Scenario: j.name, Trace: tr})
}

// unsupportedOrFailed reports a run error: as unsupported when the kernel
// turned out to lack what the scenario needs, as failed otherwise.
func unsupportedOrFailed(enc *event.Encoder, o Options, name string, err error) error {
	var ue *scenario.UnsupportedError
	if errors.As(err, &ue) {
		fmt.Fprintf(o.Console, "csagent: %s unsupported: %v\n", name, err)
		return enc.Encode(&event.Event{Type: event.TypeUnsupported, Unsupported: &event.Unsupported{Scenario: name, Option: ue.Option, Reason: err.Error()}})
	}
	if errors.Is(err, runtimes.ErrNotSupported) {
		fmt.Fprintf(o.Console, "csagent: %s unsupported: %v\n", name, err)
		return enc.Encode(&event.Event{Type: event.TypeUnsupported, Unsupported: &event.Unsupported{Scenario: name, Reason: err.Error()}})
	}
	return failed(enc, o, name, err)
}

func failed(enc *event.Encoder, o Options, name string, err error) error {
	fmt.Fprintf(o.Console, "csagent: %s failed: %v\n", name, err)
	return enc.Encode(&event.Event{Type: event.TypeFailed, Scenario: name, Failed: err.Error()})
}

// medianNS is the median of nanosecond figures as a duration, 0 for none:
// for the console.
func medianNS(v []int64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return time.Duration(stats.Median(f))
}

// Describe gathers what the hello event says about the guest.
func Describe(procDir, sysDir string) *event.Hello {
	h := &event.Hello{Protocol: event.Version, NumCPU: runtime.NumCPU()}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		h.Release = unix.ByteSliceToString(u.Release[:])
		h.KernelVer = unix.ByteSliceToString(u.Version[:])
		h.Machine = unix.ByteSliceToString(u.Machine[:])
	}
	if b, err := os.ReadFile(filepath.Join(sysDir, "devices/system/clocksource/clocksource0/current_clocksource")); err == nil {
		h.Clocksource = strings.TrimSpace(string(b))
	}
	var ts unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC, &ts); err == nil {
		h.ClockResNS = ts.Nano()
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		h.UptimeNS = ts.Nano()
	}
	if b, err := os.ReadFile(filepath.Join(procDir, "cmdline")); err == nil {
		h.Cmdline = strings.TrimSpace(string(b))
	}
	if ents, err := os.ReadDir(filepath.Join(sysDir, "class/net")); err == nil {
		for _, e := range ents {
			h.NetIfaces = append(h.NetIfaces, e.Name())
		}
	}
	if b, err := os.ReadFile(filepath.Join(procDir, "config.gz")); err == nil {
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if cfg, err := io.ReadAll(zr); err == nil {
				h.Config = string(cfg)
			}
		}
	}
	return h
}
