package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEDivisiveFindsAStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var xs []float64
	for i := 0; i < 30; i++ {
		v := 10.0
		if i >= 18 {
			v = 12.5
		}
		xs = append(xs, v*math.Exp(0.04*rng.NormFloat64()))
	}
	cps := EDivisive(xs, DefaultEDivisive())
	require.Len(t, cps, 1)
	assert.Equal(t, 18, cps[0].Index)
	assert.InDelta(t, 1.25, cps[0].Ratio(), 0.05)
	assert.LessOrEqual(t, cps[0].P, 0.01)
}

func TestEDivisiveQuietOnNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	found := 0
	for s := 0; s < 40; s++ {
		var xs []float64
		for i := 0; i < 25; i++ {
			xs = append(xs, 10*math.Exp(0.1*rng.NormFloat64()))
		}
		o := DefaultEDivisive()
		o.Seed = uint64(s)
		if cps := EDivisive(xs, o); len(cps) > 0 {
			found++
			t.Logf("series %d: %+v", s, cps)
		}
	}
	assert.LessOrEqual(t, found, 2, "about α of noise series get a step")
}

func BenchmarkEDivisive100(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	for b.Loop() {
		EDivisive(xs, DefaultEDivisive())
	}
}
