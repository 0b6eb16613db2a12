package stats

import (
	"math"
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
//	Δ ≥ log(1+t) + (q(0.975) + q(0.95)) · se    the interval clears t
//	Δ ≥ (q(1-α/2) + q(0.95)) · se / √0.955       the rank test reaches α
//
// (0.955: the Mann-Whitney test's efficiency against a t-test; q: Student's
// t quantiles with n+m-2 degrees of freedom), and enough boots for an
// exact rank test to reach α at all. Against the seeded simulation of
// TestBootsNeededMatchesSimulation these are within a few boots.

// BootSpread is s above: the standard deviation of the logs of a
// scenario's per-boot medians, estimated robustly (MAD × 1.4826) so that
// one odd boot does not inflate it. NaN with fewer than 3 boots.
func BootSpread(groups [][]float64) float64 {
	logs := logMedians(groups)
	if len(logs) < 3 {
		return math.NaN()
	}
	c := Median(logs)
	dev := make([]float64, len(logs))
	for i, v := range logs {
		dev[i] = math.Abs(v - c)
	}
	return 1.4826 * Median(dev)
}

// PairSpread estimates the same spread from both sides of a comparison:
// the pooled standard deviation of the log per-boot medians about each
// side's mean, so that the difference being tested does not count as
// spread. With 5 boots a side the MAD about a median is biased low (one
// deviation in five is zero), which would make the note built on it
// promise too much; the standard deviation errs the other way when a boot
// is odd, which only makes the promise smaller. NaN with fewer than 2
// boots on either side.
func PairSpread(base, next [][]float64) float64 {
	var ss float64
	df := 0
	for _, groups := range [][][]float64{base, next} {
		logs := logMedians(groups)
		if len(logs) < 2 {
			return math.NaN()
		}
		mean := Mean(logs)
		for _, v := range logs {
			ss += (v - mean) * (v - mean)
		}
		df += len(logs) - 1
	}
	return math.Sqrt(ss / float64(df))
}

// logMedians are the logs of the groups' (boots') medians.
func logMedians(groups [][]float64) []float64 {
	m := GroupMedians(groups)
	for i, v := range m {
		m[i] = math.Log(v)
	}
	return m
}

// tq is the q quantile of Student's t with df degrees of freedom, by the
// Cornish-Fisher expansion about the normal quantile (within 1% of the
// exact value from df = 4 on; the bounds use it for small samples, where
// z values promised too much: at 5 boots a side the normal bounds gave a
// 34% step that the simulation found only 84% of the time).
func tq(q float64, df int) float64 {
	z := math.Sqrt2 * math.Erfinv(2*q-1)
	v := float64(df)
	z3, z5, z7 := z*z*z, math.Pow(z, 5), math.Pow(z, 7)
	return z + (z3+z)/(4*v) + (5*z5+16*z3+3*z)/(96*v*v) + (3*z7+19*z5+17*z3-15*z)/(384*v*v*v)
}

// Detectable reports whether a step of log size delta is found 95% of the
// time with n and m boots a side.
func Detectable(delta, spread float64, n, m int, threshold, alpha float64) bool {
	if MinExactP(n, m) > alpha {
		return false
	}
	df := n + m - 2
	se := 1.2533 * spread * math.Sqrt(1/float64(n)+1/float64(m))
	return delta >= math.Log(1+threshold)+(tq(0.975, df)+tq(0.95, df))*se &&
		delta >= (tq(1-alpha/2, df)+tq(0.95, df))*se/math.Sqrt(0.955)
}

// MinDetectable is the smallest step (as a ratio, 1.2 = 20% slower) that
// n base boots and m new boots find 95% of the time, for a scenario whose
// per-boot medians spread by spread (BootSpread). +Inf when no step can be
// called with that few boots.
func MinDetectable(spread float64, n, m int, threshold, alpha float64) float64 {
	if math.IsNaN(spread) || MinExactP(n, m) > alpha {
		return math.Inf(1)
	}
	lo, hi := 0.0, 10.0 // log sizes
	if !Detectable(hi, spread, n, m, threshold, alpha) {
		return math.Inf(1)
	}
	for i := 0; i < 60; i++ {
		mid := (lo + hi) / 2
		if Detectable(mid, spread, n, m, threshold, alpha) {
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
		if Detectable(delta, spread, n, m, threshold, alpha) {
			return m
		}
	}
	return 0
}
