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

// Sample is one iteration of a scenario. Times are nanoseconds.
type Sample struct {
	Iter   int   `json:"iter"`
	WallNS int64 `json:"wall_ns"`
	OpNS   int64 `json:"op_ns"`
	UserNS int64 `json:"user_ns"`
	SysNS  int64 `json:"sys_ns"`
	// Phases are a runtime's own phase timings (ns), when it reports them.
	Phases map[string]int64 `json:"phases,omitempty"`
}

// Unsupported says why a scenario cannot run on this kernel.
type Unsupported struct {
	Scenario string `json:"scenario"`
	Option   string `json:"option,omitempty"` // the kernel option it lacks
	Reason   string `json:"reason"`
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
