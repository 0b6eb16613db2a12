package compare

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/results"
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

func TestHistoryNamesTheRun(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 12; i++ {
		scale := 1.0
		if i >= 7 {
			scale = 1.3
		}
		run := filepath.Join(dir, "20260101T0"+string(rune('a'+i)))
		require.NoError(t, os.MkdirAll(run, 0o755))
		f := fixture("debian-6.1-cloud", "6.1.192", uint64(i), 3, 10, map[string]float64{"netns": 2 * scale, "ipcns": 1}, nil)
		require.NoError(t, results.Write(filepath.Join(run, "debian-6.1-cloud.json"), f))
	}
	series, runs, err := LoadHistory(dir, "wall", false)
	require.NoError(t, err)
	assert.Len(t, runs, 12)
	steps := Steps(series, 0.05, DefaultEDivisive())
	require.Len(t, steps, 1, "%+v", steps)
	assert.Equal(t, "netns", steps[0].Scenario)
	assert.Equal(t, "20260101T0h", steps[0].Run)
	assert.Equal(t, "20260101T0g", steps[0].Previous)
}

// Nights when the host was busier (the guest 1.6x slower from the seventh
// run on, every scenario alike) make a step as measured, and none with
// calibration; a run without calibration keeps its series as measured.
func TestHistoryCalibrated(t *testing.T) {
	dir := t.TempDir()
	write := func(i int, f *results.File) {
		run := filepath.Join(dir, "20260101T0"+string(rune('a'+i)))
		require.NoError(t, os.MkdirAll(run, 0o755))
		require.NoError(t, results.Write(filepath.Join(run, "debian-6.1-cloud.json"), f))
	}
	for i := 0; i < 12; i++ {
		speed := 1e6
		if i >= 6 {
			speed = 1.6e6
		}
		write(i, withSpeed(fixture("debian-6.1-cloud", "6.1.192", uint64(i), 3, 10, map[string]float64{"netns": 2}, nil), func(int) float64 { return speed }))
	}
	series, _, err := LoadHistory(dir, "wall", false)
	require.NoError(t, err)
	assert.False(t, series[0].Calibrated)
	assert.Len(t, Steps(series, 0.05, DefaultEDivisive()), 1, "as measured, the host's step")

	series, _, err = LoadHistory(dir, "wall", true)
	require.NoError(t, err)
	assert.True(t, series[0].Calibrated)
	assert.InDelta(t, series[0].Values[0], series[0].Values[11], series[0].Values[0]*0.1, "in the first run's speed")
	assert.Empty(t, Steps(series, 0.05, DefaultEDivisive()), "calibrated")

	write(3, fixture("debian-6.1-cloud", "6.1.192", 3, 3, 10, map[string]float64{"netns": 2}, nil))
	series, _, err = LoadHistory(dir, "wall", true)
	require.NoError(t, err)
	assert.False(t, series[0].Calibrated, "a run from before calibration")
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
