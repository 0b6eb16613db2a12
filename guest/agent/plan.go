package agent

import (
	"fmt"
	"strconv"
	"strings"

	"coldstart/guest/runtimes"
)

// Plan is what one boot runs. The host passes it on the kernel command
// line, so that one initramfs serves every plan:
//
//	coldstart.scenarios=netns,ipcns coldstart.iterations=20 coldstart.warmups=3
//
// Unknown coldstart.* keys are an error: a typo must not silently run the
// defaults.
type Plan struct {
	Scenarios  []string
	Iterations int
	// SlowIterations, when above 0, replaces Iterations for the scenarios
	// that run whole programs (oci-run/*, seccomp-*): a container run
	// costs 100-1000x a namespace clone under TCG.
	SlowIterations int
	Warmups        int
	// SlowWarmups, when above 0, replaces Warmups for the same scenarios:
	// one warm-up fills the caches (crun's and csrun's seccomp cache among
	// them) and each more costs as much as a timed run.
	SlowWarmups int
	// Batch is how many samples go in one event.
	Batch int
	// Port is the device the events go to.
	Port string
	// Trace, when above 0, graphs that many extra iterations of each
	// scenario in the kernel after its timed ones (package guest/trace);
	// the timed samples are never traced.
	Trace int
	// Fault makes the agent misbehave on purpose, for the harness's fault
	// tests: "crash" (exit without a done event), "hang" (stop forever
	// after hello), "garbage" (write noise on the event port).
	Fault string
}

// Prefix starts every kernel command-line key the agent reads.
const Prefix = "coldstart."

// DefaultPlan is used for keys the command line does not set.
func DefaultPlan() Plan {
	return Plan{Iterations: 30, Warmups: 3, Batch: 10, Port: "/dev/ttyS1"}
}

// ParsePlan reads the plan from a kernel command line.
func ParsePlan(cmdline string) (Plan, error) {
	p := DefaultPlan()
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		if !strings.HasPrefix(k, Prefix) {
			continue
		}
		var err error
		switch key := strings.TrimPrefix(k, Prefix); key {
		case "scenarios":
			p.Scenarios = nil
			for _, s := range strings.Split(v, ",") {
				if s != "" {
					p.Scenarios = append(p.Scenarios, s)
				}
			}
		case "iterations":
			p.Iterations, err = positive(k, v, 0)
		case "slow-iterations":
			p.SlowIterations, err = positive(k, v, 0)
		case "warmups":
			p.Warmups, err = positive(k, v, -1)
		case "slow-warmups":
			p.SlowWarmups, err = positive(k, v, 0)
		case "batch":
			p.Batch, err = positive(k, v, 0)
		case "port":
			p.Port = v
		case "trace":
			p.Trace, err = positive(k, v, -1)
		case "fault":
			switch v {
			case "crash", "hang", "garbage":
				p.Fault = v
			default:
				err = fmt.Errorf("%s=%q: want crash, hang or garbage", k, v)
			}
		default:
			err = fmt.Errorf("unknown key %s on the kernel command line", k)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

// Cmdline renders the plan as kernel command-line words, the inverse of
// ParsePlan.
func (p Plan) Cmdline() []string {
	d := DefaultPlan()
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
	if p.Batch != d.Batch && p.Batch > 0 {
		w = append(w, Prefix+"batch="+strconv.Itoa(p.Batch))
	}
	if p.Port != d.Port && p.Port != "" {
		w = append(w, Prefix+"port="+p.Port)
	}
	if p.Trace > 0 {
		w = append(w, Prefix+"trace="+strconv.Itoa(p.Trace))
	}
	if p.Fault != "" {
		w = append(w, Prefix+"fault="+p.Fault)
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

// IsSlow reports whether scenario name runs whole programs (containers,
// isolation probes, seccomp steps), the scenarios SlowIterations and
// SlowWarmups apply to.
func IsSlow(name string) bool {
	return runtimes.IsContainer(name) || runtimes.IsSeccomp(name)
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
