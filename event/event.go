// Package event is the typed, versioned channel between the guest agent and
// the host harness.
//
// The agent writes one event per line on its own serial port (ttyS1 in the
// guest, a Unix socket on the host); the console (ttyS0) is for people only.
// A line is framed so that a damaged or truncated line is detected and
// rejected, never half-trusted:
//
//	cs1 <seq> <len> <crc32c> <json>\n
//
// seq counts events from 0 in one boot, len is the byte length of <json>,
// crc32c (Castagnoli, 8 hex digits) is over <json>. The JSON object always
// carries "type"; the payload depends on it. A boot's stream starts with a
// Hello and must end with a Done: a stream without Done means the agent
// crashed or the guest died.
//
// Environment: none.
package event

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Version is the protocol version, sent in Hello. Bump it when a field
// changes meaning.
const Version = 1

// Event types.
const (
	TypeHello       = "hello"
	TypeScenario    = "scenario"    // a scenario starts
	TypeSamples     = "samples"     // a batch of samples
	TypeUnsupported = "unsupported" // a scenario this kernel cannot run
	TypeFailed      = "failed"      // a scenario failed
	TypeLog         = "log"         // a line worth keeping, for people
	TypeDone        = "done"        // the last event of a boot
	TypeTrace       = "trace"       // a scenario's kernel call graph (untimed iterations)
	TypeCalibration = "calibration" // the guest's speed around a scenario
)

// Event is one message from the guest. Exactly the fields of its Type are set.
type Event struct {
	Type string `json:"type"`

	Hello       *Hello       `json:"hello,omitempty"`
	Scenario    string       `json:"scenario,omitempty"`
	Samples     []Sample     `json:"samples,omitempty"`
	Unsupported *Unsupported `json:"unsupported,omitempty"`
	Failed      string       `json:"failed,omitempty"`
	Log         string       `json:"log,omitempty"`
	Done        *Done        `json:"done,omitempty"`
	Trace       *Trace       `json:"trace,omitempty"`
	Calibration *Calibration `json:"calibration,omitempty"`
}

// Hello opens a boot's stream and describes the guest.
type Hello struct {
	Protocol    int    `json:"protocol"`
	Release     string `json:"release"`        // uname -r
	KernelVer   string `json:"kernel_version"` // uname -v
	Machine     string `json:"machine"`
	NumCPU      int    `json:"num_cpu"`
	Clocksource string `json:"clocksource"`
	ClockResNS  int64  `json:"clock_res_ns"` // clock_getres(CLOCK_MONOTONIC)
	// UptimeNS is CLOCK_MONOTONIC when the agent started: the boot time
	// as the guest saw it.
	UptimeNS int64 `json:"uptime_ns"`
	// Config is /proc/config.gz, decompressed, when the kernel has it.
	Config string `json:"config,omitempty"`
	// Cmdline is /proc/cmdline.
	Cmdline string `json:"cmdline"`
	// NetIfaces lists /sys/class/net: a guest should have only "lo".
	NetIfaces []string `json:"net_ifaces,omitempty"`
}

// Sample is one iteration of a scenario, on the wire and in the result
// files (results.Sample is this type). Times are nanoseconds; what WallNS
// and OpNS span depends on the scenario (see guest/scenario and
// guest/runtimes).
type Sample struct {
	// Boot is the index of the boot the sample came from: the host sets it
	// when it stores the sample; the guest leaves it 0.
	Boot   int   `json:"boot"`
	Iter   int   `json:"iter"`
	WallNS int64 `json:"wall_ns"` // the whole iteration, CLOCK_MONOTONIC
	OpNS   int64 `json:"op_ns"`   // the measured operation alone
	UserNS int64 `json:"user_ns"` // the child's user time (rusage)
	SysNS  int64 `json:"sys_ns"`  // the child's system time (rusage)
	// Phases are a runtime's own phase timings (ns), when it reports them
	// (csrun's start-up phases, for oci-run samples).
	Phases map[string]int64 `json:"phases,omitempty"`
}

// Unsupported says why a scenario cannot run on this kernel.
type Unsupported struct {
	Scenario string `json:"scenario"`
	Option   string `json:"option,omitempty"` // the kernel option it lacks
	Reason   string `json:"reason"`
}

// Trace is a scenario's kernel call graph, from function_graph over a few
// iterations run after the timed ones (never during them), aggregated per
// call path. Exactly one of Paths, Unsupported and Error says what happened.
type Trace struct {
	Scenario string `json:"scenario"`
	// Iterations is how many traced iterations the figures sum over.
	Iterations int `json:"iterations"`
	// Roots are the set_graph_function entries used; MaxDepth bounds the
	// graph below them.
	Roots    []string `json:"roots,omitempty"`
	MaxDepth int      `json:"max_depth,omitempty"`
	// Paths are the call paths with the most inclusive time, at most a
	// bounded number, ancestors before descendants; Rest sums the paths
	// left out.
	Paths []TracePath `json:"paths,omitempty"`
	Rest  *TraceRest  `json:"rest,omitempty"`
	// Lost counts events the ring buffer dropped (figures are then low).
	Lost int64 `json:"lost,omitempty"`
	// Unsupported says why this kernel cannot trace ("needs
	// CONFIG_FUNCTION_GRAPH_TRACER"); Error, why tracing failed.
	Unsupported string `json:"unsupported,omitempty"`
	Error       string `json:"error,omitempty"`
	// Timed is the tracefs state seen just before and just after the
	// timed iterations ("current_tracer=nop tracing_on=0"): proof that
	// they ran untraced.
	Timed []string `json:"timed,omitempty"`
	// Excerpt is the start of one iteration's raw trace, for people.
	Excerpt string `json:"excerpt,omitempty"`
}

// NoTracefs is the tracing state of a guest without tracefs, in Trace.Timed.
const NoTracefs = "no tracefs"

// Untraced reports whether a tracing state from Trace.Timed means that
// nothing was being traced: no tracer installed (tracing_on alone does not
// trace).
func Untraced(state string) bool {
	return state == NoTracefs || strings.HasPrefix(state, "current_tracer=nop ")
}

// Summary is a one-line account of a trace, for logs.
func (t *Trace) Summary() string {
	switch {
	case t.Unsupported != "":
		return "unsupported: " + t.Unsupported
	case t.Error != "":
		return fmt.Sprintf("%d paths, error: %s", len(t.Paths), t.Error)
	}
	return fmt.Sprintf("%d paths, %d left out, %d events lost", len(t.Paths), t.Rest.count(), t.Lost)
}

func (r *TraceRest) count() int {
	if r == nil {
		return 0
	}
	return r.Paths
}

// TracePath is one call path: its calls and inclusive wall time (the
// tracer's entry-to-exit time, sleeps included), summed over iterations.
type TracePath struct {
	// Path is the functions from the root down, joined by ";".
	Path  string `json:"path"`
	Calls int64  `json:"calls"`
	NS    int64  `json:"ns"`
	// Open counts calls whose exit the trace did not hold (the exiting
	// child's do_exit never returns): their NS is what their callees took.
	Open int64 `json:"open,omitempty"`
	// IterNS is NS per traced iteration, in order (0 where the path did
	// not occur), so that readers can take medians.
	IterNS []int64 `json:"iter_ns,omitempty"`
}

// TraceRest summarizes the paths a Trace left out: NS and Calls are over
// the left-out paths whose caller was kept, so nothing is counted twice.
type TraceRest struct {
	Paths int   `json:"paths"`
	Calls int64 `json:"calls"`
	NS    int64 `json:"ns"`
}

// Calibration is what the agent measured around one scenario: how long it
// waited for the guest to go idle, before the scenario and after it, and
// the run times of a fixed piece of user-space work timed after each wait.
// The work makes no system call, so its time measures the guest's speed
// (the host's load, under TCG), not the kernel's: the host divides the
// scenario's timings by it.
type Calibration struct {
	Scenario string `json:"scenario"`
	// LoopNS are the work's run times, those before the scenario first.
	LoopNS []int64 `json:"loop_ns"`
	// SettleNS are the waits for an idle guest.
	SettleNS []int64 `json:"settle_ns,omitempty"`
	// Unsettled counts the waits that gave up with the guest still busy.
	Unsettled int `json:"unsettled,omitempty"`
	// Shared says the wait and runs before the scenario are those taken
	// after the previous one, which nothing ran between: they appear in
	// both scenarios' events but took place once.
	Shared bool `json:"shared,omitempty"`
}

// Done closes a boot's stream.
type Done struct {
	// Sent is the number of events sent before this one.
	Sent int `json:"sent"`
	// Error is set when the agent gave up early.
	Error string `json:"error,omitempty"`
}

// Validate checks that e has the payload its type requires.
func (e *Event) Validate() error {
	ok := true
	switch e.Type {
	case TypeHello:
		ok = e.Hello != nil
	case TypeScenario:
		ok = e.Scenario != ""
	case TypeSamples:
		ok = e.Scenario != "" && len(e.Samples) > 0
	case TypeUnsupported:
		ok = e.Unsupported != nil && e.Unsupported.Scenario != ""
	case TypeFailed:
		ok = e.Scenario != "" && e.Failed != ""
	case TypeLog:
		ok = e.Log != ""
	case TypeDone:
		ok = e.Done != nil
	case TypeTrace:
		ok = e.Trace != nil && e.Trace.Scenario != ""
	case TypeCalibration:
		ok = e.Calibration != nil && e.Calibration.Scenario != "" && len(e.Calibration.LoopNS) > 0
	default:
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	if !ok {
		return fmt.Errorf("%s event lacks its payload", e.Type)
	}
	return nil
}

func (e *Event) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}
