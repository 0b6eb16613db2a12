package compare

import (
	"fmt"
	"slices"
	"strings"

	"coldstart/harness/results"
)

// Replicates under the virtual clock.
//
// On the wall clock the boot is the unit of replication: the host moves
// a whole boot, so each boot gives one per-boot median and the verdict
// rule ranks those. On the virtual clock (matrix --clock virtual) the
// guest's time is its instruction count plus the timer waits it skips, and
// a boot is a copy of the one before: on debian-6.1-cloud every sample of
// every boot was equal to the nanosecond, quiet or beside two busy loops.
// Ranking copies tells nothing (every per-boot median ties, so no exact
// test can ever reach α, and the spread of zero makes every power figure
// infinite). What still varies is the iteration: each one starts at
// another phase of the guest's timers, grace periods and work queues. So
// when a virtual-clock file's boots are identical, its replicates are the
// iterations of one boot, each a group of one; the threshold band then
// stands between a real change and the small fixed shift any rebuilt
// kernel may bring. When boots differ (something in the guest read a
// clock the instruction count does not drive), the boots stay the
// replicates, as on the wall clock, and ReplicateNote says so.

// virtualReplicates returns, when f ran on the virtual clock and every
// boot of groups holds the same samples in the same order, the first
// boot's samples each as a group of its own, with boots naming that boot
// for each (so per-boot lookups such as Speeds stay aligned), and true.
func virtualReplicates(f *results.File, groups [][]float64, boots []int) ([][]float64, []int, bool) {
	if f.Plan.ClockName() != "virtual" || len(groups) == 0 || len(groups[0]) < 2 {
		return groups, boots, false
	}
	for _, g := range groups[1:] {
		if !slices.Equal(g, groups[0]) {
			return groups, boots, false
		}
	}
	out := make([][]float64, len(groups[0]))
	at := make([]int, len(groups[0]))
	for i, x := range groups[0] {
		out[i] = []float64{x}
		at[i] = boots[0]
	}
	return out, at, true
}

// ReplicateNote says, for a virtual-clock file, what its replicates were
// for scenario: the iterations of one boot when its boots were copies, or
// the boots when they differed. It is empty on the wall clock.
func ReplicateNote(f *results.File, scenario, metric string) string {
	if f.Plan.ClockName() != "virtual" {
		return ""
	}
	groups, boots, _ := bootGroups(f, scenario, metric)
	if len(groups) == 0 {
		return ""
	}
	if _, _, ok := virtualReplicates(f, groups, boots); ok {
		if len(groups) == 1 {
			return fmt.Sprintf("%s: virtual clock, 1 boot: its %d iterations are the replicates (boots of this clock are copies; run ≥2 to check)", f.Kernel.Name, len(groups[0]))
		}
		return fmt.Sprintf("%s: virtual clock, %d identical boots: the %d iterations of one are the replicates", f.Kernel.Name, len(groups), len(groups[0]))
	}
	return fmt.Sprintf("%s: virtual clock, but its %d boots differ in %s: the boots are the replicates", f.Kernel.Name, len(groups), scenario)
}

// replicateNotes gives each virtual-clock file's ReplicateNote once, for
// its first scenario with samples when every scenario agrees, or for each
// scenario whose replicates are the boots.
func replicateNotes(base, next *results.File, metric string) []string {
	var out []string
	for _, f := range []*results.File{base, next} {
		if f.Plan.ClockName() != "virtual" {
			continue
		}
		var first string
		var differ []string
		names := map[string]bool{}
		for name := range f.Scenarios {
			names[name] = true
		}
		for _, name := range scenarioOrder(names, f) {
			note := ReplicateNote(f, name, metric)
			switch {
			case note == "":
			case strings.HasSuffix(note, "the boots are the replicates"):
				differ = append(differ, note)
			case first == "":
				first = note
			}
		}
		for _, note := range append([]string{first}, differ...) {
			if note != "" && !slices.Contains(out, note) {
				out = append(out, note)
			}
		}
	}
	return out
}
