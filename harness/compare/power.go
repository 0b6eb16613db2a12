package compare

import (
	"math"

	"coldstart/harness/results"
	"coldstart/stats"
)

// Power tables: what a baseline lets a comparison find, scenario by
// scenario (the arithmetic is stats' BootSpread, MinDetectable and
// BootsNeeded).

// PowerRow is what a baseline can find in one scenario.
type PowerRow struct {
	Scenario string
	Boots    int
	// Spread is stats.BootSpread of the scenario's boots.
	Spread float64
	// FoundBy5 is stats.MinDetectable with 5 new boots against these.
	FoundBy5 float64
	// BootsFor20 is stats.BootsNeeded for a 20% step against these (0: more
	// than 100); Never says no number of new boots will do against this
	// baseline: it needs more boots itself.
	BootsFor20 int
	Never      bool
}

// Power lists, for every scenario f ran, what a comparison against f (a
// baseline) can find.
func Power(f *results.File, o Options) []PowerRow {
	var out []PowerRow
	names := map[string]bool{}
	for n, sc := range f.Scenarios {
		if sc.Status == results.StatusOK {
			names[n] = true
		}
	}
	for _, n := range scenarioOrder(names, f) {
		groups, _, _ := Groups(f, n, o.Metric)
		s := stats.BootSpread(groups)
		t := o.ThresholdFor(n)
		out = append(out, PowerRow{Scenario: n, Boots: len(groups), Spread: s,
			FoundBy5:   stats.MinDetectable(s, len(groups), 5, t, o.Alpha),
			BootsFor20: stats.BootsNeeded(s, 1.2, len(groups), 100, t, o.Alpha),
			Never:      !stats.Detectable(math.Log(1.2), s, len(groups), 1_000_000, t, o.Alpha)})
	}
	return out
}
