// Package results defines the result file of one kernel in one run,
// results/runs/<UTC stamp>/<kernel>.json, which other tools and checks read:
//
//	{"schema": 1,
//	 "kernel": {"name": "...", "release": "<uname -r in the guest>", "source": "...", "sha256": "..."},
//	 "accel": "kvm" | "tcg",
//	 "scenarios": {"<scenario>": {"status": "ok" | "unsupported" | "failed", "reason": "...",
//	                              "samples": [{"boot": 0, "wall_ns": 0, "op_ns": 0, "user_ns": 0, "sys_ns": 0}]}}}
//
// More fields are added (boots, plan, completeness, the machine's
// fingerprint); these keep their names and meanings. Files are written atomically.
//
// Environment: none.
package results

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"coldstart/event"
	"coldstart/harness/machine"
	"coldstart/internal/jsonfile"
	"coldstart/plan"
)

// Schema is the result file's version.
const Schema = 1

// Scenario statuses.
const (
	StatusOK          = "ok"
	StatusUnsupported = "unsupported"
	StatusFailed      = "failed"
)

// File is one kernel's results in one run.
type File struct {
	Schema    int                  `json:"schema"`
	Kernel    Kernel               `json:"kernel"`
	Accel     string               `json:"accel"`
	Scenarios map[string]*Scenario `json:"scenarios"`

	Plan     Plan      `json:"plan"`
	Boots    []Boot    `json:"boots"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Complete is false while the run goes on and when it was interrupted.
	Complete bool   `json:"complete"`
	Host     string `json:"host,omitempty"`
	// Shard is "i/n" when this file holds one shard's boots.
	Shard string `json:"shard,omitempty"`
	// Machine is the machine the boots ran on (package machine); nil in
	// files written before it was recorded.
	Machine *machine.Fingerprint `json:"machine,omitempty"`
}

// Kernel identifies the kernel that ran.
type Kernel struct {
	Name    string `json:"name"`
	Release string `json:"release"`
	Source  string `json:"source"`
	SHA256  string `json:"sha256"`
	Version string `json:"version,omitempty"`
	Image   string `json:"image,omitempty"` // what QEMU booted
	PVH     bool   `json:"pvh"`
}

// Scenario holds one scenario's outcome over all boots.
type Scenario struct {
	Status  string   `json:"status"`
	Reason  string   `json:"reason,omitempty"`
	Option  string   `json:"option,omitempty"` // kernel option it lacks, when unsupported
	Samples []Sample `json:"samples"`
}

// Sample is one iteration, as the guest sent it, with its boot's index.
type Sample = event.Sample

// Plan is what each boot was asked to do: the measurement (package plan,
// whose fields come first in the file) and the VM it ran in.
type Plan struct {
	plan.Plan
	CPUs int `json:"cpus"`
	// TCGThread is "single" or "multi" under TCG ("" with KVM).
	TCGThread string   `json:"tcg_thread,omitempty"`
	MemoryMB  int      `json:"memory_mb"`
	Append    []string `json:"append,omitempty"`
	// Clock is the guest's clock, "virtual" (QEMU's instruction count)
	// or "" for the wall clock, and ClockParams how the virtual one was
	// made (qemu.ClockParams). Timings on different clocks are not
	// comparable.
	Clock       string `json:"clock,omitempty"`
	ClockParams string `json:"clock_params,omitempty"`
}

// ClockName is p's clock, "wall" when the file says none.
func (p Plan) ClockName() string {
	if p.Clock == "" {
		return "wall"
	}
	return p.Clock
}

// Same reports whether p and q ask for the same boots, as a resumed or
// merged run must (see plan.Plan.Same).
func (p Plan) Same(q Plan) bool {
	return p.Plan.Same(q.Plan) && p.CPUs == q.CPUs && p.TCGThread == q.TCGThread && p.MemoryMB == q.MemoryMB && p.Clock == q.Clock &&
		strings.Join(p.Append, " ") == strings.Join(q.Append, " ")
}

// Boot records one boot.
type Boot struct {
	Index  int    `json:"index"`
	Status string `json:"status"` // "ok" or "failed"
	Error  string `json:"error,omitempty"`
	// HelloMS is the time from QEMU's launch to the agent's hello event.
	HelloMS    float64 `json:"hello_ms"`
	DurationMS float64 `json:"duration_ms"`
	// PrepareMS, ScenarioMS and ShutdownMS say where the rest of the
	// boot's time went, as the host saw it: the hello to the first
	// scenario (the agent's preparation); each scenario from its start
	// event to the next scenario's or the done event (settling,
	// calibration, warm-ups, timed and traced iterations); the done event
	// to QEMU's exit.
	PrepareMS   float64            `json:"prepare_ms,omitempty"`
	ScenarioMS  map[string]float64 `json:"scenario_ms,omitempty"`
	ShutdownMS  float64            `json:"shutdown_ms,omitempty"`
	Release     string             `json:"release,omitempty"`
	Clocksource string             `json:"clocksource,omitempty"`
	ClockResNS  int64              `json:"clock_res_ns,omitempty"`
	// ClockCoarse marks a boot whose guest clock fell back to ticks: its
	// samples cannot resolve sub-tick times and are flagged.
	ClockCoarse bool   `json:"clock_coarse,omitempty"`
	Damaged     int    `json:"damaged_events,omitempty"`
	Missing     int    `json:"missing_events,omitempty"`
	ConsoleLog  string `json:"console_log,omitempty"`
	QEMU        string `json:"qemu_cmdline"`
	QEMUUser    string `json:"qemu_user,omitempty"`
	// NetIfaces are the guest's network interfaces (only "lo": no NIC).
	NetIfaces []string `json:"net_ifaces,omitempty"`
	// QMPEvents are the QMP events QEMU sent during the boot, in order
	// (GUEST_PANICKED when a kernel with a pvpanic driver panicked).
	QMPEvents []string `json:"qmp_events,omitempty"`
	// Unsupported and FailedScenarios say what each scenario did in this
	// boot, so that boots from several runs or shards can be merged.
	Unsupported     map[string]Unsupported `json:"unsupported,omitempty"`
	FailedScenarios map[string]string      `json:"failed_scenarios,omitempty"`
	// Ran lists the scenarios whose samples this boot sent.
	Ran []string `json:"ran,omitempty"`
	// Traces are the kernel call graphs this boot took per scenario
	// (coldstart.trace=N), after its timed iterations. They live with the
	// boot, like everything per boot, so that merge and resume keep them;
	// File.Traces gathers a scenario's.
	Traces map[string]*Trace `json:"traces,omitempty"`
	// Calibration is the guest's speed around each scenario (see
	// event.Calibration): compare divides the scenario's samples by it.
	Calibration map[string]*Calibration `json:"calibration,omitempty"`
}

// Calibration is one boot's calibration around one scenario.
type Calibration = event.Calibration

// Trace is one boot's kernel call graph of one scenario, as the agent sent
// it (see event.Trace).
type Trace = event.Trace

// BootTrace is a trace and the boot it came from.
type BootTrace struct {
	Boot int
	*Trace
}

// Traces returns a scenario's traces, one per boot that took one, in boot
// order.
func (f *File) Traces(scenario string) []BootTrace {
	var out []BootTrace
	for _, b := range f.Boots {
		if t := b.Traces[scenario]; t != nil {
			out = append(out, BootTrace{Boot: b.Index, Trace: t})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Boot < out[j].Boot })
	return out
}

// Unsupported is why a kernel cannot run a scenario.
type Unsupported struct {
	Option string `json:"option,omitempty"`
	Reason string `json:"reason"`
}

// Write stores f at path atomically, indented for people and diffs.
func Write(path string, f *File) error {
	return jsonfile.Write(path, f, "results for "+f.Kernel.Name)
}

// Read loads a result file and checks its schema.
func Read(path string) (*File, error) {
	var f File
	if err := jsonfile.Read(path, &f, Schema, "result"); err != nil {
		return nil, err
	}
	return &f, nil
}

// SchemaVersion implements jsonfile.Versioned.
func (f *File) SchemaVersion() int { return f.Schema }

// Walls returns the wall times of a scenario's samples, in nanoseconds.
func (s *Scenario) Walls() []float64 {
	v := make([]float64, len(s.Samples))
	for i, x := range s.Samples {
		v[i] = float64(x.WallNS)
	}
	return v
}

// ByBoot groups a scenario's samples by boot index, each as v of it
// (WallNS, OpNS, ...): the boot is the unit of replication, and every
// per-boot figure starts here.
func (s *Scenario) ByBoot(v func(Sample) int64) map[int][]float64 {
	m := map[int][]float64{}
	for _, x := range s.Samples {
		m[x.Boot] = append(m[x.Boot], float64(v(x)))
	}
	return m
}

// Wall is the whole cycle's time of a sample, the metric ByBoot usually
// takes.
func Wall(x Sample) int64 { return x.WallNS }

// Op is the system call's own time of a sample.
func Op(x Sample) int64 { return x.OpNS }

// SamplesByBoot groups every scenario's samples by boot index.
func (f *File) SamplesByBoot() map[int]map[string][]Sample {
	m := map[int]map[string][]Sample{}
	for name, s := range f.Scenarios {
		for _, x := range s.Samples {
			if m[x.Boot] == nil {
				m[x.Boot] = map[string][]Sample{}
			}
			m[x.Boot][name] = append(m[x.Boot][name], x)
		}
	}
	return m
}

// Rebuild recomputes f.Scenarios from f.Boots and the given samples per
// boot: a scenario is unsupported when a boot said so, failed when a boot
// failed it or no boot ran it, ok otherwise; samples are in boot order.
func (f *File) Rebuild(samples map[int]map[string][]Sample) {
	f.Scenarios = map[string]*Scenario{}
	sort.Slice(f.Boots, func(i, j int) bool { return f.Boots[i].Index < f.Boots[j].Index })
	for _, name := range f.Plan.Scenarios {
		s := &Scenario{Status: StatusOK, Samples: []Sample{}}
		ran := false
		for _, b := range f.Boots {
			if u, ok := b.Unsupported[name]; ok {
				s.Status, s.Reason, s.Option = StatusUnsupported, u.Reason, u.Option
				ran = true
				continue
			}
			s.Samples = append(s.Samples, samples[b.Index][name]...)
			if msg, ok := b.FailedScenarios[name]; ok {
				if s.Status != StatusUnsupported {
					s.Status = StatusFailed
				}
				if s.Reason == "" {
					s.Reason = fmt.Sprintf("boot %d: %s", b.Index, msg)
				}
				ran = true
			}
			if len(samples[b.Index][name]) > 0 {
				ran = true
			}
		}
		if !ran && s.Status == StatusOK {
			s.Status = StatusFailed
			s.Reason = "no boot reached this scenario"
		}
		f.Scenarios[name] = s
	}
	for _, b := range f.Boots {
		if b.Release != "" {
			f.Kernel.Release = b.Release
			break
		}
	}
}
