package compare

import (
	"math"

	"coldstart/harness/results"
	"coldstart/stats"
)

// Power: what a comparison can find, given how much a scenario's per-boot
// medians spread from boot to boot.
//
// The verdict rule calls a step regressed when p ≤ α and the bootstrap
// interval of the ratio of medians clears 1+t. For the rule to do both 95%
// of the time, with s the standard deviation of log per-boot medians, n and
// m boots a side, and se = 1.2533 s √(1/n + 1/m) the standard error of the
// log ratio of two medians (1.2533 = √(π/2), a median's cost against a
// mean for normal data), a step of log size Δ needs
//
//	Δ ≥ log(1+t) + (z(0.975) + z(0.95)) · se    the interval clears t
//	Δ ≥ (z(1-α/2) + z(0.95)) · se / √0.955       the rank test reaches α
//
// (0.955: the Mann-Whitney test's efficiency against a t-test), and enough
// boots for an exact rank test to reach α at all. The first bound is the
// one that binds at t = 5%. Against the seeded simulation of
// TestBootsNeededMatchesSimulation these are within a few boots.

// BootSpread is s above: the standard deviation of the logs of a
// scenario's per-boot medians, estimated robustly (MAD × 1.4826) so that
// one odd boot does not inflate it. NaN with fewer than 3 boots.
func BootSpread(groups [][]float64) float64 {
	m := groupMedians(groups)
	if len(m) < 3 {
		return math.NaN()
	}
	logs := make([]float64, len(m))
	for i, v := range m {
		logs[i] = math.Log(v)
	}
	c := stats.Median(logs)
	dev := make([]float64, len(logs))
	for i, v := range logs {
		dev[i] = math.Abs(v - c)
	}
	return 1.4826 * stats.Median(dev)
}

const (
	z975 = 1.959964
	z95  = 1.644854
)

// detectable reports whether a step of log size delta is found 95% of the
// time with n and m boots a side.
func detectable(delta, spread float64, n, m int, threshold, alpha float64) bool {
	if stats.MinExactP(n, m) > alpha {
		return false
	}
	se := 1.2533 * spread * math.Sqrt(1/float64(n)+1/float64(m))
	zAlpha := math.Sqrt2 * math.Erfinv(1-alpha)
	return delta >= math.Log(1+threshold)+(z975+z95)*se &&
		delta >= (zAlpha+z95)*se/math.Sqrt(0.955)
}

// MinDetectable is the smallest step (as a ratio, 1.2 = 20% slower) that
// n base boots and m new boots find 95% of the time, for a scenario whose
// per-boot medians spread by spread (BootSpread). +Inf when no step can be
// called with that few boots.
func MinDetectable(spread float64, n, m int, threshold, alpha float64) float64 {
	if math.IsNaN(spread) || stats.MinExactP(n, m) > alpha {
		return math.Inf(1)
	}
	lo, hi := 0.0, 10.0 // log sizes
	if !detectable(hi, spread, n, m, threshold, alpha) {
		return math.Inf(1)
	}
	for i := 0; i < 60; i++ {
		mid := (lo + hi) / 2
		if detectable(mid, spread, n, m, threshold, alpha) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return math.Exp(hi)
}

// BootsNeeded is the fewest new boots that find a step of ratio shift 95%
// of the time against base boots of a baseline (base 0: the same number
// on both sides), or 0 when no number up to max will do (the baseline
// itself is too small or too spread).
func BootsNeeded(spread, shift float64, base, max int, threshold, alpha float64) int {
	delta := math.Log(shift)
	for m := 2; m <= max; m++ {
		n := base
		if n == 0 {
			n = m
		}
		if detectable(delta, spread, n, m, threshold, alpha) {
			return m
		}
	}
	return 0
}

// PowerRow is what a baseline can find in one scenario.
type PowerRow struct {
	Scenario string
	Boots    int
	// Spread is BootSpread of the scenario's boots.
	Spread float64
	// FoundBy5 is MinDetectable with 5 new boots against these.
	FoundBy5 float64
	// BootsFor20 is BootsNeeded for a 20% step against these (0: more
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
		s := BootSpread(groups)
		t := o.ThresholdFor(n)
		out = append(out, PowerRow{Scenario: n, Boots: len(groups), Spread: s,
			FoundBy5:   MinDetectable(s, len(groups), 5, t, o.Alpha),
			BootsFor20: BootsNeeded(s, 1.2, len(groups), 100, t, o.Alpha),
			Never:      !detectable(math.Log(1.2), s, len(groups), 1_000_000, t, o.Alpha)})
	}
	return out
}
