package matrix

import (
	"context"
	"errors"
	"fmt"
	"time"

	"coldstart/event"
	"coldstart/harness/qemu"
	"coldstart/harness/results"
)

// Deadlines bound a boot. Under TCG a guest runs 10-20x slower than the
// host, and CI machines are shared: the defaults are generous.
type Deadlines struct {
	// Hello bounds QEMU's launch to the agent's hello event.
	Hello time.Duration
	// Scenario bounds one scenario, from its start event to the next
	// scenario, or to done.
	Scenario time.Duration
	// Shutdown bounds the wait for QEMU to exit after the done event.
	Shutdown time.Duration
}

// DefaultDeadlines suit TCG on a busy 2-core machine.
func DefaultDeadlines() Deadlines {
	return Deadlines{Hello: 180 * time.Second, Scenario: 300 * time.Second, Shutdown: 30 * time.Second}
}

// bootOutcome is what one boot produced.
type bootOutcome struct {
	rec         results.Boot
	hello       *event.Hello
	samples     map[string][]results.Sample
	unsupported map[string]*event.Unsupported
	failed      map[string]string
	started     []string // scenarios whose start event arrived, in order
	done        bool
	err         error // the boot failed (the samples above are still real)
}

// boot runs one VM to the end and gathers its events. It never returns
// early without stopping QEMU.
func boot(ctx context.Context, o qemu.Options, index int, dl Deadlines, progress func(string)) *bootOutcome {
	out := &bootOutcome{
		samples:     map[string][]results.Sample{},
		unsupported: map[string]*event.Unsupported{},
		failed:      map[string]string{},
	}
	out.rec.Index = index
	out.rec.ConsoleLog = o.ConsoleLog
	launched := time.Now()
	vm, err := qemu.Start(ctx, o)
	if err != nil {
		out.err = err
		var be *qemu.BootError
		if errors.As(err, &be) {
			out.rec.QEMU = be.CommandLine
		}
		return out.finish(launched)
	}
	defer vm.Stop()
	out.rec.QEMU = vm.CommandLine()
	out.rec.QEMUUser = vm.User()

	timer := time.NewTimer(dl.Hello)
	defer timer.Stop()
	current := "" // scenario running now
	waitingFor := "the agent's hello event"
	mark := launched // the start of the part of the boot under way
	lap := func() float64 {
		now := time.Now()
		d := ms(now.Sub(mark))
		mark = now
		return d
	}
	endScenario := func() {
		if current == "" {
			return
		}
		if out.rec.ScenarioMS == nil {
			out.rec.ScenarioMS = map[string]float64{}
		}
		out.rec.ScenarioMS[current] += lap()
	}
	events := vm.Events()
	for events != nil {
		select {
		case e, open := <-events:
			if !open {
				events = nil
				break
			}
			switch e.Type {
			case event.TypeHello:
				out.hello = e.Hello
				out.rec.HelloMS = lap()
				out.rec.Release = e.Hello.Release
				out.rec.Clocksource = e.Hello.Clocksource
				out.rec.ClockResNS = e.Hello.ClockResNS
				out.rec.NetIfaces = e.Hello.NetIfaces
				out.rec.ClockCoarse = coarseClock(e.Hello.Clocksource)
				progress(fmt.Sprintf("boot %d: agent up after %.1f s (kernel %s, clocksource %s)", index, out.rec.HelloMS/1000, e.Hello.Release, e.Hello.Clocksource))
				resetTimer(timer, dl.Scenario)
				waitingFor = "the first scenario"
			case event.TypeScenario:
				if len(out.started) == 0 {
					out.rec.PrepareMS = lap()
				}
				endScenario()
				current = e.Scenario
				out.started = append(out.started, e.Scenario)
				resetTimer(timer, dl.Scenario)
				waitingFor = "scenario " + current
			case event.TypeSamples:
				// Progress: the scenario deadline bounds a stall, not a
				// scenario's total length.
				resetTimer(timer, dl.Scenario)
				for _, s := range e.Samples {
					s.Boot = index
					out.samples[e.Scenario] = append(out.samples[e.Scenario], s)
				}
			case event.TypeUnsupported:
				out.unsupported[e.Unsupported.Scenario] = e.Unsupported
			case event.TypeFailed:
				out.failed[e.Scenario] = e.Failed
				progress(fmt.Sprintf("boot %d: %s failed: %s", index, e.Scenario, e.Failed))
			case event.TypeTrace:
				if out.rec.Traces == nil {
					out.rec.Traces = map[string]*results.Trace{}
				}
				out.rec.Traces[e.Trace.Scenario] = e.Trace
				progress(fmt.Sprintf("boot %d: %s traced: %s", index, e.Trace.Scenario, e.Trace.Summary()))
			case event.TypeCalibration:
				if out.rec.Calibration == nil {
					out.rec.Calibration = map[string]*results.Calibration{}
				}
				out.rec.Calibration[e.Calibration.Scenario] = e.Calibration
			case event.TypeLog:
				progress(fmt.Sprintf("boot %d: guest: %s", index, e.Log))
			case event.TypeDone:
				out.done = true
				endScenario()
				current = ""
				if e.Done.Error != "" {
					out.err = fmt.Errorf("agent gave up: %s", e.Done.Error)
				}
				resetTimer(timer, dl.Shutdown)
				waitingFor = "QEMU to exit after the done event"
			}
		case <-timer.C:
			if out.done {
				// All data is in; a guest that does not power off is only
				// slow to die.
				progress(fmt.Sprintf("boot %d: guest did not power off after done; stopping it", index))
				vm.Stop()
				return out.finish(launched)
			}
			vm.Stop()
			out.err = vm.Errorf(qemu.ErrTimeout, "waited too long for %s", waitingFor)
			if current != "" {
				out.failed[current] = fmt.Sprintf("timed out after %v", dl.Scenario)
			}
			return out.finish(launched)
		case <-ctx.Done():
			vm.Stop()
			out.err = ctx.Err()
			return out.finish(launched)
		}
	}
	// The event stream ended: QEMU exited or closed the port.
	select {
	case <-vm.Exited():
	case <-time.After(dl.Shutdown):
		vm.Stop()
	}
	waitErr := vm.Wait()
	if out.done {
		out.rec.ShutdownMS = lap()
	}
	out.rec.Damaged, out.rec.Missing, _ = vm.Damage()
	out.rec.QMPEvents = vm.QMPEvents()
	switch {
	case out.err != nil:
	case vm.Panicked():
		out.err = vm.Errorf(qemu.ErrGuestPanic, "the guest kernel panicked")
	case !out.done && out.hello == nil:
		out.err = vm.Errorf(qemu.ErrNoDone, "QEMU exited before the agent's hello (%v)", waitErr)
	case !out.done:
		out.err = vm.Errorf(qemu.ErrNoDone, "the agent stopped while waiting for %s (QEMU: %v)", waitingFor, waitErr)
	}
	if out.err != nil && current != "" {
		if _, ok := out.failed[current]; !ok {
			out.failed[current] = "boot ended during this scenario: " + firstLine(out.err.Error())
		}
	}
	if _, _, last := vm.Damage(); last != nil && out.rec.Damaged > 0 {
		progress(fmt.Sprintf("boot %d: %d damaged event lines rejected (last: %v)", index, out.rec.Damaged, last))
	}
	return out.finish(launched)
}

func (out *bootOutcome) finish(launched time.Time) *bootOutcome {
	out.rec.DurationMS = ms(time.Since(launched))
	for name, u := range out.unsupported {
		if out.rec.Unsupported == nil {
			out.rec.Unsupported = map[string]results.Unsupported{}
		}
		out.rec.Unsupported[name] = results.Unsupported{Option: u.Option, Reason: u.Reason}
	}
	for name, msg := range out.failed {
		if out.rec.FailedScenarios == nil {
			out.rec.FailedScenarios = map[string]string{}
		}
		out.rec.FailedScenarios[name] = msg
	}
	out.rec.Ran = out.started
	out.rec.Status = results.StatusOK
	if out.err != nil {
		out.rec.Status = results.StatusFailed
		out.rec.Error = out.err.Error()
	}
	return out
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}

// coarseClock reports whether a guest clocksource reads in ticks, so
// that times shorter than a tick cannot be measured. Only the jiffies
// counters do. clock_getres (the hello's ClockResNS) is no guide: it
// reports the hrtimer resolution, which stays at a tick whenever high
// resolution timers are off (a tiny kernel booted under -icount with
// tsc-early reports 4 ms while its readings step by nanoseconds), so a
// resolution above 1 µs alone no longer marks a boot coarse.
func coarseClock(clocksource string) bool {
	switch clocksource {
	case "jiffies", "refined-jiffies":
		return true
	}
	return false
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
