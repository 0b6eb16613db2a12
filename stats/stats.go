// Package stats holds the statistics coldstart reports: order statistics
// first (start-up timings are skewed and often bimodal, so the median is
// the headline and the mean is shown only beside its spread), seeded
// bootstrap confidence intervals for a median and for the ratio of two
// medians (also hierarchically, for samples grouped by boot), and two rank
// tests, Mann-Whitney U and two-sample Kolmogorov-Smirnov.
//
// On them it builds coldstart's verdict rule (Decide: regressed, improved,
// same or unknown, from samples grouped by boot), the level for a run that
// adds boots while unknown (AdaptiveAlpha), what a number of boots can find
// (power.go: BootSpread, MinDetectable, BootsNeeded), the division of each
// boot's samples by its guest speed (Calibrate), and change points in a
// series of runs (EDivisive). Everything here takes numbers and returns
// numbers or verdicts: reading result files, grouping their samples and
// writing reports is harness/compare's.
//
// Environment: none.
package stats

import (
	"math"
	"slices"
)

// Summary describes one sample set.
type Summary struct {
	N      int
	Median float64
	Mean   float64
	StdDev float64 // sample standard deviation (n-1)
	Min    float64
	Max    float64
	P05    float64
	P25    float64
	P75    float64
	P95    float64
	MAD    float64 // median absolute deviation, unscaled
}

// Summarize computes a Summary; the zero Summary for no values.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Summary{
		N:      len(s),
		Median: quantileSorted(s, 0.5),
		Mean:   Mean(s),
		StdDev: StdDev(s),
		Min:    s[0],
		Max:    s[len(s)-1],
		P05:    quantileSorted(s, 0.05),
		P25:    quantileSorted(s, 0.25),
		P75:    quantileSorted(s, 0.75),
		P95:    quantileSorted(s, 0.95),
		MAD:    MAD(s),
	}
}

// Mean is the arithmetic mean; NaN for no values.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// StdDev is the sample standard deviation; 0 for fewer than two values.
func StdDev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := Mean(xs)
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

// Median of xs; NaN for no values.
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }

// Quantile returns the q-quantile (0..1) by linear interpolation between
// order statistics (R's type 7, as numpy's default); NaN for no values.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return quantileSorted(s, q)
}

func quantileSorted(s []float64, q float64) float64 {
	if q <= 0 {
		return s[0]
	}
	if q >= 1 {
		return s[len(s)-1]
	}
	h := q * float64(len(s)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[i]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}
