package compare

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/results"
	"coldstart/stats"
)

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
	steps := Steps(series, 0.05, stats.DefaultEDivisive())
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
	assert.Len(t, Steps(series, 0.05, stats.DefaultEDivisive()), 1, "as measured, the host's step")

	series, _, err = LoadHistory(dir, "wall", true)
	require.NoError(t, err)
	assert.True(t, series[0].Calibrated)
	assert.InDelta(t, series[0].Values[0], series[0].Values[11], series[0].Values[0]*0.1, "in the first run's speed")
	assert.Empty(t, Steps(series, 0.05, stats.DefaultEDivisive()), "calibrated")

	write(3, fixture("debian-6.1-cloud", "6.1.192", 3, 3, 10, map[string]float64{"netns": 2}, nil))
	series, _, err = LoadHistory(dir, "wall", true)
	require.NoError(t, err)
	assert.False(t, series[0].Calibrated, "a run from before calibration")
}
