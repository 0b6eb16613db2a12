package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// The verdict rule.
//
// Each boot is one unit of replication: a scenario's samples are grouped by
// boot and each boot contributes its median. With B and B' such per-boot
// medians on the two sides:
//
//   - p = min(p of Mann-Whitney U, p of Kolmogorov-Smirnov) on the per-boot
//     medians, as Chromium's Pinpoint does;
//   - ratio = median of the new per-boot medians / median of the base ones,
//     with a 95% percentile-bootstrap interval that resamples whole boots
//     (the cluster bootstrap);
//   - regressed when p ≤ α (0.01) and the interval lies wholly above 1+t,
//     improved when p ≤ α and it lies wholly below 1-t, where t is the
//     practical threshold (5% unless overridden for the scenario);
//   - same when the interval lies wholly inside [1-t, 1+t];
//   - unknown otherwise: more boots are needed. With n and m boots no exact
//     rank test can give p below 2/C(n+m, n), so with fewer than five boots
//     a side nothing is ever called regressed; the note says so.
//
// Adding boots while unknown: looking again after every added boot and
// stopping at the first verdict gives chance more than one try: with
// α = 0.01 at each look from 5 to 15 new boots against a 20-boot baseline,
// a netns-like bimodal scenario was called changed in 4.5% of 2,000
// same-distribution comparisons. AdaptiveAlpha gives the level to use at
// every look instead (a constant boundary in the manner of Pocock's): about
// 0.0011 for 5 to 15 boots at an overall 0.01, which brought that down to
// 1.0% (0.6% regressed, 0.4% improved) and still calls a 20% step
// regressed 95.5% of the time.
//
// The pooled samples (all iterations of all boots) are tested too and shown
// as a second view, but never decide: boot-to-boot differences of 30-50%
// make pooled p-values far too small.

// Verdict is the outcome of the verdict rule for one comparison. Callers
// that have no statistics to judge (a scenario that did not run) add
// verdicts of their own to say why.
type Verdict string

// Verdicts the rule gives.
const (
	Regressed Verdict = "regressed"
	Improved  Verdict = "improved"
	Same      Verdict = "same"
	Unknown   Verdict = "unknown"
)

// Rule holds the verdict rule's parameters; DefaultRule is the one
// coldstart uses.
type Rule struct {
	// Alpha is the significance level for p = min(MWU, KS).
	Alpha float64
	// Level is the confidence level of the intervals.
	Level float64
	// Rounds is the number of bootstrap resamples; Seed makes them
	// reproducible.
	Rounds int
	Seed   uint64
}

// DefaultRule: α = 0.01, 95% intervals, DefaultRounds resamples, seed 1.
func DefaultRule() Rule {
	return Rule{Alpha: 0.01, Level: 0.95, Rounds: DefaultRounds, Seed: 1}
}

// View is one way of looking at the difference: per boot or pooled.
type View struct {
	Ratio float64  `json:"ratio"` // new median / base median
	CI    Interval `json:"ci"`
	P     float64  `json:"p"` // min(PMWU, PKS)
	PMWU  float64  `json:"p_mwu"`
	PKS   float64  `json:"p_ks"`
}

// Decide applies the verdict rule to samples grouped by boot and returns
// the verdict, the per-boot view it rests on, and a note when unknown.
func Decide(base, next [][]float64, threshold float64, r Rule) (Verdict, View, string) {
	bm, nm := GroupMedians(base), GroupMedians(next)
	if len(bm) == 0 || len(nm) == 0 {
		return Unknown, View{Ratio: math.NaN(), CI: Interval{Lo: math.NaN(), Hi: math.NaN()}, P: 1, PMWU: 1, PKS: 1}, "no usable boots"
	}
	// The cluster bootstrap: resample whole boots, each represented by its
	// median. Resampling the samples within boots as well (GroupRatioCI)
	// counts the within-boot spread twice, since it is already in each
	// boot's median, and widens the interval for nothing.
	boot := view(bm, nm, r)

	hi, lo := 1+threshold, 1-threshold
	ci := boot.CI
	switch {
	case boot.P <= r.Alpha && ci.Lo > hi:
		return Regressed, boot, ""
	case boot.P <= r.Alpha && ci.Hi < lo:
		return Improved, boot, ""
	case ci.Lo >= lo && ci.Hi <= hi:
		return Same, boot, ""
	case MinExactP(len(bm), len(nm)) > r.Alpha:
		return Unknown, boot, tooFewBoots(len(bm), len(nm), r.Alpha)
	case boot.P <= r.Alpha:
		return Unknown, boot, fmt.Sprintf("significant, but the interval crosses ±%s%%; more boots", strconv.FormatFloat(threshold*100, 'f', -1, 64))
	default:
		return Unknown, boot, NotSignificant
	}
}

// NotSignificant is Decide's note when the data neither show a change nor
// rule one out: the caller may say instead what these boots could have
// found (MinDetectable).
const NotSignificant = "not significant, not ruled out; more boots"

// tooFewBoots says how many boots a comparison that no exact test can
// decide needs: new ones against the base it has, when a practical number
// will do, and the same number a side.
func tooFewBoots(base, next int, alpha float64) string {
	msg := fmt.Sprintf("%d vs %d boots cannot reach p ≤ %g; need ", base, next, alpha)
	for m := next + 1; m <= 100; m++ {
		if MinExactP(base, m) <= alpha {
			return msg + fmt.Sprintf("≥%d new boots against these %d, or ≥%d a side", m, base, MinBoots(alpha))
		}
	}
	return msg + fmt.Sprintf("≥%d a side", MinBoots(alpha))
}

// Pooled is the second view: all samples of all boots, as if independent.
func Pooled(base, next [][]float64, r Rule) View {
	return view(Pool(base), Pool(next), r)
}

// view tests base against next (both rank tests) and bootstraps the ratio
// of their medians.
func view(base, next []float64, r Rule) View {
	var v View
	_, v.PMWU = MannWhitneyU(base, next)
	_, v.PKS = KolmogorovSmirnov(base, next)
	v.P = math.Min(v.PMWU, v.PKS)
	v.Ratio = Median(next) / Median(base)
	v.CI = RatioCI(base, next, r.Level, r.Rounds, r.Seed)
	return v
}

// Pool puts all groups' values in one slice, as if they were independent.
func Pool(groups [][]float64) []float64 {
	var v []float64
	for _, g := range groups {
		v = append(v, g...)
	}
	return v
}

// MinBoots is the smallest number of boots a side (both sides equal) with
// which an exact rank test can reach p ≤ alpha.
func MinBoots(alpha float64) int {
	for n := 1; n < 100; n++ {
		if MinExactP(n, n) <= alpha {
			return n
		}
	}
	return 100
}

// AdaptiveAlpha is the significance level to use at each look when the new
// side of a comparison is looked at after every boot from first to last,
// boots being added while the verdict is unknown, so that the chance of a
// false verdict over all the looks is alpha rather than alpha per look.
//
// It is the constant (Pocock-style) boundary for a statistic that is a
// standardised sum of the new boots, with the base side taken as exact:
// that errs on the strict side for small baselines (with a 5-boot baseline
// the same simulation allows 0.0037 instead of 0.0024). Since p is the
// smaller of two tests' p-values, the boundary is found for alpha/2 (the
// Bonferroni bound for two tests): without that, bimodal scenarios were
// still called changed about 1.5% of the time. It is found by a seeded
// simulation, so every run gets the same level; with one look it is alpha,
// the rule's own level.
func AdaptiveAlpha(alpha float64, first, last int) float64 {
	if first < 1 {
		first = 1
	}
	if last <= first {
		return alpha
	}
	alpha /= 2 // p = min(p MWU, p KS)
	const draws = 100000
	rng := rand.New(rand.NewPCG(5, 15))
	peaks := make([]float64, draws)
	for d := range peaks {
		var sum, peak float64
		for n := 1; n <= last; n++ {
			sum += rng.NormFloat64()
			if n >= first {
				peak = math.Max(peak, math.Abs(sum)/math.Sqrt(float64(n)))
			}
		}
		peaks[d] = peak
	}
	z := Quantile(peaks, 1-alpha)
	return floor2(math.Erfc(z / math.Sqrt2)) // two-sided p of z
}

// floor2 rounds p down to two significant digits, for a level people can
// read (0.0011, not 0.0011312...) that is no looser than the one computed.
func floor2(p float64) float64 {
	exp := int(math.Floor(math.Log10(p))) - 1
	digits := math.Floor(p / math.Pow(10, float64(exp)))
	v, err := strconv.ParseFloat(fmt.Sprintf("%ge%d", digits, exp), 64)
	if err != nil {
		return p
	}
	return v
}
