package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// model draws B boots × I iterations of a start-up timing: each boot has its
// own level (log-normal, σ = bootSD, the boot-to-boot spread facts.md
// reports), and within a boot the samples are log-normal (σ = iterSD) or,
// when bimodal, a mixture of a fast mode and a slow mode 10x slower taken
// with probability slowP, like the netns timings (47.7 ± 51.4 ms, min 0).
type model struct {
	boots, iters   int
	bootSD, iterSD float64
	bimodal        bool
	slowP          float64
}

func (m model) draw(rng *rand.Rand, scale float64) [][]float64 {
	g := make([][]float64, m.boots)
	for b := range g {
		level := scale * 5e6 * math.Exp(m.bootSD*rng.NormFloat64())
		g[b] = make([]float64, m.iters)
		for i := range g[b] {
			v := level * math.Exp(m.iterSD*rng.NormFloat64())
			if m.bimodal && rng.Float64() < m.slowP {
				v *= 10
			}
			g[b][i] = v
		}
	}
	return g
}

// rate runs n comparisons of base (scale 1) against new (scale shift) and
// returns the share of each verdict.
func rate(t *testing.T, m model, shift, threshold float64, n int, seed uint64) map[Verdict]float64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	o := DefaultRule()
	o.Rounds = 400 // enough for a 95% interval's ends; keeps the test quick
	out := map[Verdict]float64{}
	for i := 0; i < n; i++ {
		o.Seed = uint64(i)
		v, _, _ := Decide(m.draw(rng, 1), m.draw(rng, shift), threshold, o)
		out[v] += 1 / float64(n)
	}
	return out
}

// The default comparison size, for baselines and CI: 20 boots × 40
// iterations a side, on a quiet host (boot-to-boot spread 5%, σ of the log;
// within a boot 30%). TestPowerTable shows what larger spreads cost; on the
// shared development machine the spread was 50-90% (see the package note).
var defaultModel = model{boots: 20, iters: 40, bootSD: 0.05, iterSD: 0.30}

func TestFalsePositiveRate(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    model
	}{
		{"default", defaultModel},
		{"three boots", model{boots: 3, iters: 20, bootSD: 0.10, iterSD: 0.30}},
		{"large boot spread", model{boots: 10, iters: 20, bootSD: 0.70, iterSD: 0.90}},
		{"bimodal netns-like", model{boots: 20, iters: 40, bootSD: 0.05, iterSD: 0.30, bimodal: true, slowP: 0.45}},
		{"bimodal, modes balanced", model{boots: 20, iters: 40, bootSD: 0.05, iterSD: 0.30, bimodal: true, slowP: 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rate(t, tc.m, 1.0, 0.05, 200, 11)
			t.Logf("200 same-distribution comparisons: %v", r)
			assert.LessOrEqual(t, r[Regressed], 0.01, "called regressed")
			assert.LessOrEqual(t, r[Improved], 0.01, "called improved")
		})
	}
}

func TestDetectsTwentyPercentShift(t *testing.T) {
	r := rate(t, defaultModel, 1.20, 0.05, 200, 12)
	t.Logf("20%% slower, 200 comparisons: %v", r)
	assert.GreaterOrEqual(t, r[Regressed], 0.95)
	r = rate(t, defaultModel, 1/1.20, 0.05, 200, 13)
	assert.GreaterOrEqual(t, r[Improved], 0.95)
}

// A 10% step sits too close to the 5% threshold for any practical number of
// boots; with a scenario threshold of 2% and 40 steady boots it is found.
func TestDetectsTenPercentShiftWithEnoughBoots(t *testing.T) {
	r := rate(t, model{boots: 40, iters: 40, bootSD: 0.03, iterSD: 0.30}, 1.10, 0.02, 100, 14)
	t.Logf("10%% slower, 40 boots, 2%% threshold: %v", r)
	assert.GreaterOrEqual(t, r[Regressed], 0.9)
}

// With the matrix's old default of three boots a side, nothing can be
// called regressed (p ≥ 0.1): the honest answer is unknown.
func TestThreeBootsNeverDecideADifference(t *testing.T) {
	r := rate(t, model{boots: 3, iters: 20, bootSD: 0.1, iterSD: 0.3}, 2.0, 0.05, 50, 15)
	assert.Equal(t, 0.0, r[Regressed])
	assert.InDelta(t, 1.0, r[Unknown], 1e-9)
}

func TestSameWhenClearlyNotDifferent(t *testing.T) {
	r := rate(t, model{boots: 20, iters: 30, bootSD: 0.02, iterSD: 0.1}, 1.0, 0.05, 50, 16)
	t.Logf("steady, no change: %v", r)
	assert.GreaterOrEqual(t, r[Same], 0.9)
}

// The matrix's default sample size: 5 boots × 30 iterations a side (the
// fewest boots with which p can reach 0.01), on the same quiet host as
// defaultModel: boot-to-boot spread 5% (σ of the log of a boot's level),
// within a boot 30%.
//
// That 5% is a model, not this machine: under TCG here the per-boot
// medians of one kernel spread by 5-8% for container runs and 11-39% for
// the namespace scenarios (σ of their logs; the committed 20-boot
// baseline of debian-6.1-cloud). coldstart baseline update prints it per
// scenario, with what it lets a comparison find (power.go, checked
// against this simulation by TestBootsNeededMatchesSimulation).
var matrixModel = model{boots: 5, iters: 30, bootSD: 0.05, iterSD: 0.30}

// At a fixed 5 boots a side no false alarms, bimodal included; but 5 vs 5
// boots detect a 20% step well under half the time (42.5% of 200 at 30
// iterations; 31-36% at the old 20): both exact tests need the two sides
// completely separated, and the interval of the ratio must clear 5%.
// TestSmallestSampleForTwentyPercent finds what does reach 95%;
// TestAdaptiveRates shows that the default of a run with baselines,
// --adaptive, does.
func TestDefaultSampleSizeRates(t *testing.T) {
	bimodal := matrixModel
	bimodal.bimodal, bimodal.slowP = true, 0.45
	balanced := bimodal
	balanced.slowP = 0.5
	for _, tc := range []struct {
		name  string
		m     model
		shift float64
		check func(t *testing.T, r map[Verdict]float64)
	}{
		{"same distribution", matrixModel, 1, noFalseAlarms},
		{"bimodal netns-like", bimodal, 1, noFalseAlarms},
		{"bimodal, modes balanced", balanced, 1, noFalseAlarms},
		{"20% slower", matrixModel, 1.2, func(t *testing.T, r map[Verdict]float64) {
			assert.Zero(t, r[Improved])
			// Verdicts are reached (at 3 boots they never were), but far
			// from 95% of the time: if this starts to fail, the rule got
			// stronger and the README's advice can be relaxed.
			assert.GreaterOrEqual(t, r[Regressed], 0.2)
			assert.Less(t, r[Regressed], 0.95)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rate(t, tc.m, tc.shift, 0.05, 200, 21)
			t.Logf("5 vs 5 boots x 30 iterations, shift %.2f, 200 comparisons: %v", tc.shift, r)
			tc.check(t, r)
		})
	}
}

func noFalseAlarms(t *testing.T, r map[Verdict]float64) {
	t.Helper()
	assert.LessOrEqual(t, r[Regressed], 0.01, "called regressed")
	assert.LessOrEqual(t, r[Improved], 0.01, "called improved")
}

// adaptiveRate runs n comparisons as coldstart matrix --adaptive does: the
// base side (a baseline) has baseBoots boots, the new side starts with
// first boots and gets one more while the verdict is unknown, up to last,
// at the level AdaptiveAlpha gives for those looks. It returns the share
// of each final verdict and the mean number of new boots used.
func adaptiveRate(t *testing.T, m model, baseBoots, first, last int, shift float64, n int, seed uint64) (map[Verdict]float64, float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	o := DefaultRule()
	o.Rounds = 400
	o.Alpha = AdaptiveAlpha(o.Alpha, first, last)
	out := map[Verdict]float64{}
	var boots float64
	for i := 0; i < n; i++ {
		o.Seed = uint64(i)
		bm, nm := m, m
		bm.boots, nm.boots = baseBoots, last
		base, next := bm.draw(rng, 1), nm.draw(rng, shift)
		b := first
		v, _, _ := Decide(base, next[:b], 0.05, o)
		for v == Unknown && b < last {
			b++
			v, _, _ = Decide(base, next[:b], 0.05, o)
		}
		out[v] += 1 / float64(n)
		boots += float64(b) / float64(n)
	}
	return out, boots
}

func TestAdaptiveAlpha(t *testing.T) {
	assert.Equal(t, 0.01, AdaptiveAlpha(0.01, 5, 5), "one look")
	a := AdaptiveAlpha(0.01, 5, 15)
	assert.InDelta(t, 0.0011, a, 0.0002)
	assert.Equal(t, a, AdaptiveAlpha(0.01, 5, 15), "seeded: the same every time")
	assert.Less(t, AdaptiveAlpha(0.01, 5, 30), a, "more looks, a stricter level")
	assert.Less(t, AdaptiveAlpha(0.001, 5, 15), a)
}

// --adaptive, the default of a matrix run given baselines: 5 boots
// growing to 15 (the matrix's --boots and --max-boots) against a baseline
// recorded with --boots 20, about the smallest fixed size that detects a
// 20% step 95% of the time on its own. Same spreads as matrixModel.
//
// No false alarms, bimodal included. At the default 30 iterations a 20%
// step is found 98.4% of the time (1,000 comparisons); at the old default
// of 20 it was right at the 95% mark (95.5% of 1,000; 93-96% in runs of
// 200, depending on the seed), so this asserts 93% there.
func TestAdaptiveRates(t *testing.T) {
	bimodal := matrixModel
	bimodal.bimodal, bimodal.slowP = true, 0.45
	balanced := bimodal
	balanced.slowP = 0.5
	twenty := matrixModel
	twenty.iters = 20
	regressed := func(min float64) func(t *testing.T, r map[Verdict]float64) {
		return func(t *testing.T, r map[Verdict]float64) { assert.GreaterOrEqual(t, r[Regressed], min) }
	}
	for _, tc := range []struct {
		name  string
		m     model
		shift float64
		check func(t *testing.T, r map[Verdict]float64)
	}{
		{"same distribution", matrixModel, 1, noFalseAlarms},
		{"bimodal netns-like", bimodal, 1, noFalseAlarms},
		{"bimodal, modes balanced", balanced, 1, noFalseAlarms},
		{"20% slower", matrixModel, 1.2, regressed(0.95)},
		{"20% slower, 20 iterations", twenty, 1.2, regressed(0.93)},
		{"20% faster", matrixModel, 1 / 1.2, func(t *testing.T, r map[Verdict]float64) {
			assert.GreaterOrEqual(t, r[Improved], 0.95)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, boots := adaptiveRate(t, tc.m, 20, 5, 15, tc.shift, 200, 22)
			t.Logf("20-boot baseline, 5 growing to 15 boots x %d iterations, shift %.2f, 200 comparisons: %v, %.1f boots on average", tc.m.iters, tc.shift, r, boots)
			tc.check(t, r)
		})
	}
}

// TestSmallestSampleForTwentyPercent finds the fewest boots a side
// (matrixModel: 30 iterations) that call a 20% step regressed 95% of the
// time, with a fixed number of boots and with --adaptive against
// baselines of several sizes.
func TestSmallestSampleForTwentyPercent(t *testing.T) {
	if testing.Short() {
		t.Skip("sample-size search in -short mode")
	}
	// 400 comparisons of each size put 15 boots at 94.5%, 18 at 97% and
	// 20 at 97.7% (at the old 20 iterations: 20 at 93.5%, 22 at 97%);
	// power.go's formulas say 18.
	smallest := 0
	for _, b := range []int{5, 10, 15, 18, 20, 22, 25} {
		m := matrixModel
		m.boots = b
		r := rate(t, m, 1.2, 0.05, 400, 23)
		t.Logf("fixed, %2d vs %2d boots: regressed %.3f", b, b, r[Regressed])
		if r[Regressed] >= 0.95 && smallest == 0 {
			smallest = b
		}
	}
	t.Logf("smallest fixed number of boots a side that calls a 20%% step regressed 95%% of the time: %d", smallest)
	assert.GreaterOrEqual(t, smallest, 15)
	assert.LessOrEqual(t, smallest, 22)
	for _, base := range []int{5, 10, 15, 20} {
		r, boots := adaptiveRate(t, matrixModel, base, 5, 15, 1.2, 200, 24)
		t.Logf("adaptive 5..15 boots against a %2d-boot baseline: regressed %.3f, %.1f boots on average", base, r[Regressed], boots)
	}
}

// TestPowerTable logs detection rates of a 20% step for several boot
// counts and boot-to-boot spreads, for choosing --boots (go test -v).
func TestPowerTable(t *testing.T) {
	if testing.Short() {
		t.Skip("power table in -short mode")
	}
	for _, sd := range []float64{0.05, 0.1, 0.3, 0.6} {
		for _, b := range []int{5, 10, 20, 40} {
			r := rate(t, model{boots: b, iters: 40, bootSD: sd, iterSD: 0.3}, 1.2, 0.05, 100, 17)
			t.Logf("boot σ %.2f, %2d boots: regressed %.2f unknown %.2f", sd, b, r[Regressed], r[Unknown])
		}
	}
}

// The note of an undecidable comparison says how many boots would do.
func TestTooFewBootsSaysHowMany(t *testing.T) {
	for _, tt := range []struct {
		base, next int
		alpha      float64
		want       string
	}{
		{3, 3, 0.01, "3 vs 3 boots cannot reach p ≤ 0.01; need ≥9 new boots against these 3, or ≥5 a side"},
		{10, 3, 0.0019, "10 vs 3 boots cannot reach p ≤ 0.0019; need ≥5 new boots against these 10, or ≥7 a side"},
		{1, 5, 0.01, "1 vs 5 boots cannot reach p ≤ 0.01; need ≥5 a side"},
	} {
		assert.Equal(t, tt.want, tooFewBoots(tt.base, tt.next, tt.alpha))
	}
}
