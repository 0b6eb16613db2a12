package stats

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Interval is a confidence interval at Level (0.95 for 95%).
type Interval struct {
	Lo, Hi float64
	Level  float64
}

// Contains reports whether v lies in [Lo, Hi].
func (iv Interval) Contains(v float64) bool { return iv.Lo <= v && v <= iv.Hi }

// DefaultRounds is the number of bootstrap resamples the CI functions use
// when given 0.
const DefaultRounds = 2000

// MAD is the median absolute deviation from the median, unscaled (multiply
// by 1.4826 for an estimate of σ under normality); NaN for no values.
func MAD(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	m := Median(xs)
	d := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = math.Abs(x - m)
	}
	return Median(d)
}

// MedianCI is a percentile-bootstrap confidence interval for the median of
// xs. It is deterministic for a given seed. A single value gives [x, x];
// no values give NaNs.
func MedianCI(xs []float64, level float64, rounds int, seed uint64) Interval {
	if len(xs) == 0 {
		return Interval{math.NaN(), math.NaN(), level}
	}
	rng := newRand(seed)
	rounds = roundsOr(rounds)
	est := make([]float64, rounds)
	buf := make([]float64, len(xs))
	for r := range est {
		est[r] = resampleMedian(rng, xs, buf)
	}
	return percentileInterval(est, level)
}

// RatioCI is a percentile-bootstrap confidence interval for
// median(next)/median(base), resampling each side independently.
func RatioCI(base, next []float64, level float64, rounds int, seed uint64) Interval {
	if len(base) == 0 || len(next) == 0 {
		return Interval{math.NaN(), math.NaN(), level}
	}
	rng := newRand(seed)
	rounds = roundsOr(rounds)
	est := make([]float64, rounds)
	bb := make([]float64, len(base))
	nb := make([]float64, len(next))
	for r := range est {
		est[r] = resampleMedian(rng, next, nb) / resampleMedian(rng, base, bb)
	}
	return percentileInterval(est, level)
}

// GroupMedian is the median of the groups' medians: the estimate coldstart
// reports when each group (a boot) is one unit of replication. Empty groups
// are skipped.
func GroupMedian(groups [][]float64) float64 { return Median(GroupMedians(groups)) }

// GroupMedians are the medians of the non-empty groups, in order: one
// value a boot, the units the verdict rule compares.
func GroupMedians(groups [][]float64) []float64 {
	var meds []float64
	for _, g := range groups {
		if len(g) > 0 {
			meds = append(meds, Median(g))
		}
	}
	return meds
}

// GroupRatioCI is a hierarchical bootstrap (Saravanan et al., "Application
// of the hierarchical bootstrap to multi-level data", 2020) confidence
// interval for GroupMedian(next)/GroupMedian(base): each round resamples the
// groups with replacement, then the values within each chosen group, so
// that both the boot-to-boot and the within-boot spread widen the interval.
func GroupRatioCI(base, next [][]float64, level float64, rounds int, seed uint64) Interval {
	base, next = nonEmpty(base), nonEmpty(next)
	if len(base) == 0 || len(next) == 0 {
		return Interval{math.NaN(), math.NaN(), level}
	}
	rng := newRand(seed)
	rounds = roundsOr(rounds)
	est := make([]float64, rounds)
	bm := make([]float64, len(base))
	nm := make([]float64, len(next))
	var buf []float64
	groupMed := func(groups [][]float64, meds []float64) float64 {
		for i := range meds {
			g := groups[rng.IntN(len(groups))]
			if cap(buf) < len(g) {
				buf = make([]float64, len(g))
			}
			meds[i] = resampleMedian(rng, g, buf[:len(g)])
		}
		slices.Sort(meds)
		return quantileSorted(meds, 0.5)
	}
	for r := range est {
		est[r] = groupMed(next, nm) / groupMed(base, bm)
	}
	return percentileInterval(est, level)
}

func nonEmpty(groups [][]float64) [][]float64 {
	var out [][]float64
	for _, g := range groups {
		if len(g) > 0 {
			out = append(out, g)
		}
	}
	return out
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x636f6c6473746172)) // "coldstar"
}

func roundsOr(r int) int {
	if r <= 0 {
		return DefaultRounds
	}
	return r
}

// resampleMedian draws len(xs) values from xs with replacement into buf and
// returns their median.
func resampleMedian(rng *rand.Rand, xs, buf []float64) float64 {
	for i := range buf {
		buf[i] = xs[rng.IntN(len(xs))]
	}
	slices.Sort(buf)
	return quantileSorted(buf, 0.5)
}

func percentileInterval(est []float64, level float64) Interval {
	slices.Sort(est)
	a := (1 - level) / 2
	return Interval{quantileSorted(est, a), quantileSorted(est, 1-a), level}
}
