package plan

import (
	"fmt"
	"strconv"
	"strings"
)

// Plan is what a run measures on every kernel. The host records it in each
// result file (the "plan" object of package results, which adds the VM's
// shape); each boot gets its part, the scenarios and how often to run them,
// on the kernel command line (Cmdline, Parse). Boots, MaxBoots and
// AddedBoots are the host's alone: a boot runs the rest once.
type Plan struct {
	Scenarios []string `json:"scenarios"`
	// Boots is the number of boots planned for every kernel.
	Boots int `json:"boots"`
	// MaxBoots, set by an adaptive run (coldstart matrix --adaptive), is
	// how many boots a kernel may get while its comparison with its
	// baseline is unknown.
	MaxBoots int `json:"max_boots,omitempty"`
	// AddedBoots is how many boots the adaptive run added to this kernel,
	// after the planned ones: its boots are 0 .. Boots+AddedBoots-1. A boot
	// is counted here before it runs, so an interrupted run resumes it.
	AddedBoots int `json:"added_boots,omitempty"`
	Iterations int `json:"iterations"`
	// SlowIterations, when above 0, replaces Iterations for the scenarios
	// that run whole programs (IsSlow: oci-run/*, isolation/*, seccomp-*):
	// a container run costs 100-1000x a namespace clone under TCG.
	SlowIterations int `json:"slow_iterations,omitempty"`
	// Trace, when above 0, graphs that many extra iterations of each
	// scenario in the kernel after its timed ones (package guest/trace),
	// for explain; the timed samples are never traced.
	Trace   int `json:"trace,omitempty"`
	Warmups int `json:"warmups"`
	// SlowWarmups, when above 0, replaces Warmups for the same scenarios:
	// one warm-up fills the caches (crun's and csrun's seccomp cache among
	// them) and each more costs as much as a timed run. Absent in files
	// from before it existed: the same as Warmups.
	SlowWarmups int `json:"slow_warmups,omitempty"`
}

// IterationsFor is how many timed iterations scenario name gets.
func (p Plan) IterationsFor(name string) int {
	if p.SlowIterations > 0 && IsSlow(name) {
		return p.SlowIterations
	}
	return p.Iterations
}

// WarmupsFor is how many untimed iterations scenario name gets first.
func (p Plan) WarmupsFor(name string) int {
	if p.SlowWarmups > 0 && IsSlow(name) {
		return p.SlowWarmups
	}
	return p.Warmups
}

// Same reports whether p and q ask for the same measurement, as a resumed
// or merged run must. AddedBoots is not compared: an adaptive run grows it
// as it goes.
func (p Plan) Same(q Plan) bool {
	return strings.Join(p.Scenarios, ",") == strings.Join(q.Scenarios, ",") && p.Boots == q.Boots && p.MaxBoots == q.MaxBoots &&
		p.Iterations == q.Iterations && p.SlowIterations == q.SlowIterations && p.Trace == q.Trace &&
		p.Warmups == q.Warmups && p.SlowWarmups == q.SlowWarmups
}

// Prefix starts every kernel command-line key the agent reads; other
// command-line words are the kernel's.
const Prefix = "coldstart."

// Cmdline renders a boot's part of the plan as kernel command-line words.
func (p Plan) Cmdline() []string {
	var w []string
	if len(p.Scenarios) > 0 {
		w = append(w, Prefix+"scenarios="+strings.Join(p.Scenarios, ","))
	}
	w = append(w, Prefix+"iterations="+strconv.Itoa(p.Iterations), Prefix+"warmups="+strconv.Itoa(p.Warmups))
	if p.SlowIterations > 0 {
		w = append(w, Prefix+"slow-iterations="+strconv.Itoa(p.SlowIterations))
	}
	if p.SlowWarmups > 0 {
		w = append(w, Prefix+"slow-warmups="+strconv.Itoa(p.SlowWarmups))
	}
	if p.Trace > 0 {
		w = append(w, Prefix+"trace="+strconv.Itoa(p.Trace))
	}
	return w
}

// Boot is what the guest agent reads from its kernel command line: its
// part of the plan, and how to send its events. The host passes it there,
// so that one initramfs serves every plan:
//
//	coldstart.scenarios=netns,ipcns coldstart.iterations=20 coldstart.warmups=3
//
// Unknown coldstart.* keys are an error: a typo must not silently run the
// defaults.
type Boot struct {
	Plan
	// Batch is how many samples go in one event.
	Batch int
	// Port is the device the events go to.
	Port string
	// Fault makes the agent misbehave on purpose, for the harness's fault
	// tests: "crash" (exit without a done event), "hang" (stop forever
	// after hello), "garbage" (write noise on the event port).
	Fault string
}

// DefaultBoot is used for keys the command line does not set.
func DefaultBoot() Boot {
	return Boot{Plan: Plan{Iterations: 30, Warmups: 3}, Batch: 10, Port: "/dev/ttyS1"}
}

// Parse reads a boot's orders from a kernel command line.
func Parse(cmdline string) (Boot, error) {
	b := DefaultBoot()
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		if !strings.HasPrefix(k, Prefix) {
			continue
		}
		var err error
		switch key := strings.TrimPrefix(k, Prefix); key {
		case "scenarios":
			b.Scenarios = nil
			for _, s := range strings.Split(v, ",") {
				if s != "" {
					b.Scenarios = append(b.Scenarios, s)
				}
			}
		case "iterations":
			b.Iterations, err = positive(k, v, 0)
		case "slow-iterations":
			b.SlowIterations, err = positive(k, v, 0)
		case "warmups":
			b.Warmups, err = positive(k, v, -1)
		case "slow-warmups":
			b.SlowWarmups, err = positive(k, v, 0)
		case "batch":
			b.Batch, err = positive(k, v, 0)
		case "port":
			b.Port = v
		case "trace":
			b.Trace, err = positive(k, v, -1)
		case "fault":
			switch v {
			case "crash", "hang", "garbage":
				b.Fault = v
			default:
				err = fmt.Errorf("%s=%q: want crash, hang or garbage", k, v)
			}
		default:
			err = fmt.Errorf("unknown key %s on the kernel command line", k)
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// Cmdline renders b as kernel command-line words, the inverse of Parse:
// the plan's words, then those of the settings that differ from
// DefaultBoot.
func (b Boot) Cmdline() []string {
	d := DefaultBoot()
	w := b.Plan.Cmdline()
	if b.Batch != d.Batch && b.Batch > 0 {
		w = append(w, Prefix+"batch="+strconv.Itoa(b.Batch))
	}
	if b.Port != d.Port && b.Port != "" {
		w = append(w, Prefix+"port="+b.Port)
	}
	if b.Fault != "" {
		w = append(w, Prefix+"fault="+b.Fault)
	}
	return w
}

func positive(k, v string, min int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= min {
		return 0, fmt.Errorf("%s=%q: want an integer above %d", k, v, min)
	}
	return n, nil
}
