package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBootSpread(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := model{boots: 400, iters: 1, bootSD: 0.2}
	assert.InDelta(t, 0.2, BootSpread(m.draw(rng, 1)), 0.02)
	assert.True(t, math.IsNaN(BootSpread([][]float64{{1}, {2}})), "two boots")
	groups := m.draw(rng, 1)[:20]
	groups[0] = []float64{1e12}
	assert.Less(t, BootSpread(groups), 0.35, "one odd boot does not inflate it")
}

// modelSpread is how much a model's per-boot medians spread: its boot
// levels, and the error of a median of iters samples, √(π/2)·σ/√iters.
func modelSpread(m model) float64 {
	return math.Hypot(m.bootSD, 1.2533*m.iterSD/math.Sqrt(float64(m.iters)))
}

func TestPairSpread(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	m := model{boots: 300, iters: 1, bootSD: 0.2}
	assert.InDelta(t, 0.2, PairSpread(m.draw(rng, 1), m.draw(rng, 3)), 0.02, "a threefold step is not spread")
	assert.True(t, math.IsNaN(PairSpread([][]float64{{1}}, [][]float64{{1}, {2}})), "one boot on a side")
}

func TestMinDetectableAndBootsNeeded(t *testing.T) {
	const th, alpha = 0.05, 0.01
	s := modelSpread(matrixModel)
	for _, tc := range []struct {
		name           string
		spread         float64
		base, max      int
		shift          float64
		wantLo, wantHi int
	}{
		{"matrixModel, a side", s, 0, 100, 1.2, 16, 20},
		{"matrixModel, against 20 boots", s, 20, 100, 1.2, 14, 20},
		{"spread 0.2, a side", 0.2, 0, 200, 1.2, 80, 100},
		{"spread 0.2, 20-boot baseline: never", 0.2, 20, 200, 1.2, 0, 0},
		{"a 2x step, spread 0.2", 0.2, 0, 100, 2, 5, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := BootsNeeded(tc.spread, tc.shift, tc.base, tc.max, th, alpha)
			t.Logf("spread %.3f, %.0f%% step, baseline %d: %d boots", tc.spread, (tc.shift-1)*100, tc.base, n)
			assert.GreaterOrEqual(t, n, tc.wantLo)
			assert.LessOrEqual(t, n, tc.wantHi)
		})
	}
	assert.True(t, math.IsInf(MinDetectable(s, 3, 3, th, alpha), 1), "3 a side decide nothing")
	five := MinDetectable(s, 5, 5, th, alpha)
	assert.InDelta(t, 1.43, five, 0.03, "5 a side")
	assert.InDelta(t, 1.2, MinDetectable(s, 20, 20, th, alpha), 0.02, "20 a side: about 20%")
	assert.Greater(t, MinDetectable(0.2, 20, 20, th, alpha), MinDetectable(s, 20, 20, th, alpha))
}

// The formulas against the verdict rule itself, on seeded data: at the
// predicted size a step is found about 95% of the time, at a good deal
// fewer boots (or a good deal smaller step) it is not.
func TestBootsNeededMatchesSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation in -short mode")
	}
	s := modelSpread(matrixModel)
	n := BootsNeeded(s, 1.2, 0, 100, 0.05, 0.01)
	m := matrixModel
	m.boots = n
	at := rate(t, m, 1.2, 0.05, 200, 41)
	m.boots = n * 2 / 3
	fewer := rate(t, m, 1.2, 0.05, 200, 42)
	t.Logf("predicted %d boots a side: regressed %.3f; %d boots: %.3f", n, at[Regressed], m.boots, fewer[Regressed])
	assert.GreaterOrEqual(t, at[Regressed], 0.92)
	assert.Less(t, fewer[Regressed], 0.9)

	five := MinDetectable(s, 5, 5, 0.05, 0.01)
	m.boots = 5
	r := rate(t, m, five, 0.05, 200, 43)
	smaller := rate(t, m, 1+(five-1)*0.6, 0.05, 200, 44)
	t.Logf("5 a side, the predicted %.0f%% step: regressed %.3f; a %.0f%% step: %.3f", (five-1)*100, r[Regressed], (five-1)*60, smaller[Regressed])
	assert.GreaterOrEqual(t, r[Regressed], 0.9)
	assert.Less(t, smaller[Regressed], 0.8)
}

func TestTQuantile(t *testing.T) {
	for _, tc := range []struct {
		q    float64
		df   int
		want float64 // from tables
	}{
		{0.975, 4, 2.776}, {0.975, 8, 2.306}, {0.995, 8, 3.355}, {0.95, 8, 1.860},
		{0.975, 30, 2.042}, {0.995, 38, 2.712}, {0.975, 1000, 1.962},
	} {
		assert.InDelta(t, tc.want, tq(tc.q, tc.df), tc.want*0.01, "q %g df %d", tc.q, tc.df)
	}
}
