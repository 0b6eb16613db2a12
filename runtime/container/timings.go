package container

import (
	"encoding/json"

	"coldstart/internal/atomicfile"
	"coldstart/runtime/internal/linux"
)

// Phase names, in start-up order. Seccomp preparation (cache or compile)
// runs in the parent while the init stage starts (init_start).
const (
	PhaseParse          = "parse"           // read and validate config.json
	PhaseSeccompCache   = "seccomp_cache"   // cache hit: read and verify the entry
	PhaseSeccompCompile = "seccomp_compile" // miss or no cache: libseccomp compile (+ cache write)
	PhaseCgroup         = "cgroup"          // create the cgroup, write limits, attach the device filter
	PhaseNamespaces     = "namespaces"      // clone(2) with CLONE_NEW*, id maps, exec of the init stage
	PhaseInitStart      = "init_start"      // exec of the init stage until its C constructor runs
	PhaseBootstrap      = "bootstrap"       // init waits for and reads its program (and BPF) from the parent
	PhaseMounts         = "mounts"          // rootfs bind, config mounts, /dev
	PhaseHooks          = "hooks"           // createRuntime, createContainer or startContainer hooks
	PhasePivotRoot      = "pivot_root"      // pivot_root or MS_MOVE+chroot, old root detached
	PhaseFinalize       = "finalize"        // masked/read-only paths, hostname, sysctl, read-only root
	PhaseWaitStart      = "wait_start"      // create only: blocked on exec.fifo until start
	PhaseCredentials    = "credentials"     // rlimits, uid/gid/groups, capabilities, no_new_privs
	PhaseSeccompLoad    = "seccomp_load"    // seccomp(2) of the BPF program
	PhaseExec           = "exec"            // execve until the parent sees the sync pipe close
)

// Phase is one measured interval, CLOCK_MONOTONIC, relative to the start
// of the csrun command.
type Phase struct {
	Name    string `json:"name"`
	StartNS int64  `json:"start_ns"`
	DurNS   int64  `json:"dur_ns"`
}

// Timings is the JSON document --phase-timings writes.
type Timings struct {
	Version int    `json:"version"` // 1
	Runtime string `json:"runtime"` // "csrun"
	ID      string `json:"id"`
	// Seccomp is "none", "compiled" (libseccomp, cache off), "cache-miss"
	// (compiled and stored), "cache-hit" or "cache-corrupt" (a bad entry
	// was discarded, then compiled and stored).
	Seccomp        string  `json:"seccomp"`
	CacheHit       bool    `json:"seccomp_cache_hit"`
	BPFInsns       int     `json:"seccomp_bpf_insns,omitempty"`
	RootSwitch     string  `json:"root_switch,omitempty"` // "pivot_root" or "move_chroot"
	Phases         []Phase `json:"phases"`
	TotalNS        int64   `json:"total_ns"`        // command start to exec
	ClockMonotonic bool    `json:"clock_monotonic"` // always true: all stamps are CLOCK_MONOTONIC
}

// span is an absolute CLOCK_MONOTONIC interval, as exchanged between stages.
type span struct {
	Name       string `json:"n"`
	Start, End int64
}

func (t *Timings) add(base int64, sp span) {
	if sp.End < sp.Start {
		sp.End = sp.Start
	}
	t.Phases = append(t.Phases, Phase{Name: sp.Name, StartNS: sp.Start - base, DurNS: sp.End - sp.Start})
}

func (t *Timings) write(path string) error {
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}

// Now returns CLOCK_MONOTONIC in nanoseconds, for Options.Start.
func Now() int64 { return linux.Monotonic() }
