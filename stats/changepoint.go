package stats

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Change-point detection follows E-Divisive means (Matteson and
// James, "A nonparametric approach for multiple change point analysis of
// multivariate data", JASA 2014) as MongoDB applies it to nightly
// performance series (Daly et al., "The Use of Change Point Detection to
// Identify Software Performance Regressions in a Continuous Integration
// System", ICPE 2020): find the split that maximises the energy
// divergence between the two sides, keep it when a permutation test says
// it is significant, and recurse into both halves.

// ChangePoint is one step in a series.
type ChangePoint struct {
	Index  int     // first point after the step
	P      float64 // permutation p-value
	Before float64 // median of the segment before
	After  float64 // median of the segment after
}

// Ratio is After/Before.
func (c ChangePoint) Ratio() float64 { return c.After / c.Before }

// EDivisiveOptions tune the detection.
type EDivisiveOptions struct {
	Alpha        float64 // significance level of the permutation test
	Permutations int     // 199
	MinSize      int     // fewest points a segment may hold (3)
	Seed         uint64
}

// DefaultEDivisive: α = 0.01 (MongoDB's paper uses 0.05; a nightly alarm
// is costly, and on noise series 0.05 flagged about one in seven here),
// 199 permutations, segments of at least three runs.
func DefaultEDivisive() EDivisiveOptions {
	return EDivisiveOptions{Alpha: 0.01, Permutations: 199, MinSize: 3, Seed: 1}
}

// EDivisive returns the change points of xs, in order.
func EDivisive(xs []float64, o EDivisiveOptions) []ChangePoint {
	rng := rand.New(rand.NewPCG(o.Seed, 3))
	var cps []ChangePoint
	var split func(lo, hi int)
	split = func(lo, hi int) {
		seg := xs[lo:hi]
		tau, q := bestSplit(seg, o.MinSize)
		if tau < 0 {
			return
		}
		perm := append([]float64(nil), seg...)
		exceed := 0
		for r := 0; r < o.Permutations; r++ {
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			if _, qp := bestSplit(perm, o.MinSize); qp >= q {
				exceed++
			}
		}
		p := float64(exceed+1) / float64(o.Permutations+1)
		if p > o.Alpha {
			return
		}
		cps = append(cps, ChangePoint{Index: lo + tau, P: p})
		split(lo, lo+tau)
		split(lo+tau, hi)
	}
	split(0, len(xs))
	sort.Slice(cps, func(i, j int) bool { return cps[i].Index < cps[j].Index })
	// Segment medians, between neighbouring change points.
	for i := range cps {
		start, end := 0, len(xs)
		if i > 0 {
			start = cps[i-1].Index
		}
		if i+1 < len(cps) {
			end = cps[i+1].Index
		}
		cps[i].Before = Median(xs[start:cps[i].Index])
		cps[i].After = Median(xs[cps[i].Index:end])
	}
	return cps
}

// bestSplit maximises the scaled energy statistic
// Q(τ) = τ(n-τ)/n · (2/(τ(n-τ)) ΣΣ|x-y| - 1/C(τ,2) Σ|x-x'| - 1/C(n-τ,2) Σ|y-y'|)
// over splits leaving at least min points a side, updating the three sums
// as τ moves so that one pass is O(n²). It returns τ = -1 when the series
// is too short.
func bestSplit(x []float64, min int) (int, float64) {
	n := len(x)
	if min < 2 {
		min = 2
	}
	if n < 2*min {
		return -1, 0
	}
	d := func(i, j int) float64 { return math.Abs(x[i] - x[j]) }
	var wl, wr, b float64 // within left, within right, between (pair sums)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			wr += d(i, j)
		}
	}
	best, bestQ := -1, math.Inf(-1)
	for tau := 1; tau < n; tau++ {
		// Move point tau-1 from the right side to the left.
		k := tau - 1
		var toLeft, toRight float64
		for i := 0; i < k; i++ {
			toLeft += d(i, k)
		}
		for j := k + 1; j < n; j++ {
			toRight += d(k, j)
		}
		wl += toLeft
		wr -= toRight
		b += toRight - toLeft
		if tau < min || n-tau < min {
			continue
		}
		t, m := float64(tau), float64(n-tau)
		q := t * m / float64(n) * (2*b/(t*m) - wl/(t*(t-1)/2) - wr/(m*(m-1)/2))
		if q > bestQ {
			best, bestQ = tau, q
		}
	}
	return best, bestQ
}
