package matrix

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"coldstart/harness/compare"
	"coldstart/harness/results"
	"coldstart/stats"
)

// Adaptive adds boots to the kernels whose comparison with their baseline
// is unknown, the way Pinpoint adds attempts:
//
//	planned boots of every kernel
//	    │
//	    ▼
//	┌─► for each kernel with a baseline, not yet settled:
//	│     compare every scenario in both files (package compare)
//	│     no scenario unknown           ──► settled: decided
//	│     boots run ≥ MaxBoots          ──► settled: at the maximum
//	│     otherwise                     ──► one more boot this round
//	│   run the round's boots (interleaved, o.Jobs at once)
//	└── while a round had any
//
// Each look uses the level stats.AdaptiveAlpha gives for looks from
// Options.Boots to MaxBoots, so that looking again after every boot does
// not raise the chance of a false verdict (Rule gives the options). Boots
// that fail count towards MaxBoots, so a kernel that cannot boot stops.
type Adaptive struct {
	// Baselines are the reference results by kernel name; kernels without
	// one get no added boots.
	Baselines map[string]*results.File
	// MaxBoots bounds the boots of one kernel, planned and added.
	MaxBoots int
	// Compare is the verdict rule, at its overall level (Alpha).
	Compare compare.Options
}

// Rule is the verdict rule used at each look of a run that plans boots
// boots: Compare with Alpha lowered by stats.AdaptiveAlpha.
func (a *Adaptive) Rule(boots int) compare.Options {
	o := a.Compare
	o.Alpha = stats.AdaptiveAlpha(o.Alpha, boots, a.MaxBoots)
	return o
}

// Verdicts compares each file with its kernel's baseline and returns the
// rows of every kernel that has a baseline, gated (compare.Gate, with
// Planned: a scenario this run was not asked for is a warning, one it was
// asked for and lacks a gap), and the names of the kernels that have none.
// Those are not gaps: a baselines directory holds the kernels someone
// recorded, a matrix runs the kernels it is given, and the verdict table
// says which kernels it could not judge.
func Verdicts(files []*results.File, baselines map[string]*results.File, o compare.Options) (*compare.Report, []string) {
	r := &compare.Report{Metric: o.Metric, Alpha: o.Alpha, Level: o.Level}
	var none []string
	var in compare.GateInput
	for _, f := range files {
		base := baselines[f.Kernel.Name]
		if base == nil {
			none = append(none, f.Kernel.Name)
			continue
		}
		r.NewFiles = append(r.NewFiles, f)
		r.BaseFiles = append(r.BaseFiles, base)
		r.Rows = append(r.Rows, compare.CompareFiles(base, f, o)...)
		in.Pairs = append(in.Pairs, compare.Pair{Base: base, New: f})
	}
	in.Planned = true
	compare.Gate(r, in, o)
	return r, none
}

// adapt runs the adaptive rounds after the planned boots.
func adapt(ctx context.Context, o Options, names []string, states map[string]*kernelState) {
	a := o.Adaptive
	rule := a.Rule(o.Boots)
	fmt.Fprintf(o.Progress, "adaptive: comparing with the baselines after each boot, α = %.2g at each look (%g overall), at most %d boots a kernel\n",
		rule.Alpha, a.Compare.Alpha, a.MaxBoots)
	settled := map[string]bool{}
	for _, name := range names {
		if a.Baselines[name] == nil {
			fmt.Fprintf(o.Progress, "  %s: no baseline, not compared\n", name)
			settled[name] = true
		}
	}
	for ctx.Err() == nil {
		var round []Unit
		for _, name := range names {
			if settled[name] {
				continue
			}
			u, more := states[name].nextBoot(o, a, rule)
			if !more {
				settled[name] = true
				continue
			}
			round = append(round, u)
		}
		if len(round) == 0 {
			return
		}
		runUnits(ctx, o, states, round)
	}
}

// nextBoot compares the kernel with its baseline and, when a scenario is
// unknown and the kernel has boots to spare, records one more boot in the
// plan (written before it runs, so that --resume finds it) and returns it.
func (st *kernelState) nextBoot(o Options, a *Adaptive, rule compare.Options) (Unit, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	name := st.target.Kernel.Name
	st.file.Rebuild(st.samples)
	var unknown []compare.Row
	for _, row := range compare.CompareFiles(a.Baselines[name], st.file, rule) {
		if row.Verdict == stats.Unknown {
			unknown = append(unknown, row)
		}
	}
	ran := st.file.Plan.Boots + st.file.Plan.AddedBoots
	switch {
	case len(unknown) == 0:
		fmt.Fprintf(o.Progress, "  %s: every scenario decided after %s\n", name, plural(ran, "boot"))
		return Unit{}, false
	case ran >= a.MaxBoots:
		fmt.Fprintf(o.Progress, "  %s: %s still unknown after %s, the most allowed (%s)\n", name, plural(len(unknown), "scenario"), plural(ran, "boot"), summarize(unknown))
		return Unit{}, false
	}
	fmt.Fprintf(o.Progress, "  %s: %s unknown after %s (%s), boot %d of at most %d\n",
		name, plural(len(unknown), "scenario"), plural(ran, "boot"), summarize(unknown), ran+1, a.MaxBoots)
	st.file.Plan.AddedBoots++
	st.file.Complete = false
	st.pending++
	if err := results.Write(st.path, st.file); err != nil {
		fmt.Fprintf(o.Progress, "  %s: cannot save the plan of boot %d: %v\n", name, ran, err)
	}
	return Unit{Kernel: name, Boot: ran}, true
}

// summarize names the unknown scenarios with their p, most significant
// first, at most four.
func summarize(rows []compare.Row) string {
	rows = append([]compare.Row(nil), rows...)
	sort.SliceStable(rows, func(i, j int) bool { return rowP(rows[i]) < rowP(rows[j]) })
	var parts []string
	for i, r := range rows {
		if i == 4 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprintf("%s p=%.2g", r.Scenario, rowP(r)))
	}
	return strings.Join(parts, ", ")
}

func rowP(r compare.Row) float64 {
	if r.Boot == nil {
		return 1
	}
	return r.Boot.P
}
