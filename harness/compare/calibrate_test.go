package compare

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/results"
	"coldstart/stats"
)

// withSpeed gives every boot of f a calibration for every scenario:
// loop times of speed(boot) ns, and multiplies that boot's samples by
// speed(boot)/1e6, as a host that slows the whole guest down would.
func withSpeed(f *results.File, speed func(boot int) float64) *results.File {
	for i := range f.Boots {
		b := &f.Boots[i]
		b.Calibration = map[string]*results.Calibration{}
		for _, n := range f.Plan.Scenarios {
			s := int64(speed(b.Index))
			b.Calibration[n] = &results.Calibration{Scenario: n, LoopNS: []int64{s, s, s}}
		}
	}
	for _, sc := range f.Scenarios {
		for j := range sc.Samples {
			s := &sc.Samples[j]
			s.WallNS = int64(float64(s.WallNS) * speed(s.Boot) / 1e6)
			s.OpNS = int64(float64(s.OpNS) * speed(s.Boot) / 1e6)
		}
	}
	return f
}

func TestSpeeds(t *testing.T) {
	f := withSpeed(fixture("k", "6.1", 1, 3, 5, map[string]float64{"netns": 1}, nil), func(b int) float64 { return 1e6 + float64(b)*1e5 })
	f.Boots[1].Calibration["netns"].LoopNS = []int64{1, 2, 6}
	s, ok := Speeds(f, "netns", []int{0, 1, 2})
	require.True(t, ok)
	assert.Equal(t, []float64{1e6, 3, 1.2e6}, s, "the mean of each boot's runs")
	s, ok = Speeds(f, "netns", []int{2, 0})
	require.True(t, ok)
	assert.Equal(t, []float64{1.2e6, 1e6}, s, "in the order asked")

	delete(f.Boots[2].Calibration, "netns")
	_, ok = Speeds(f, "netns", []int{0, 1, 2})
	assert.False(t, ok, "a boot without a calibration")
	_, ok = Speeds(f, "netns", []int{0, 7})
	assert.False(t, ok, "a boot that is not in the file")
	assert.True(t, HasCalibration(f))
	assert.False(t, HasCalibration(fixture("k", "6.1", 1, 3, 5, map[string]float64{"netns": 1}, nil)))
}

// A host twice as slow during the new run doubles every timing: as
// measured that is a +100% regression; calibrated, the same kernel is the
// same. A real 30% regression under the same slow host is still found,
// at its size.
func TestCalibrationTakesOutTheHost(t *testing.T) {
	base := withSpeed(fixture("k", "6.1", 1, 8, 20, map[string]float64{"netns": 1, "ipcns": 1}, nil), func(int) float64 { return 1e6 })
	next := withSpeed(fixture("k", "6.1", 2, 8, 20, map[string]float64{"netns": 1, "ipcns": 1.3}, nil), func(int) float64 { return 2e6 })
	o := DefaultOptions() // auto: the speeds differ 2x
	rows := map[string]Row{}
	for _, r := range CompareFiles(base, next, o) {
		rows[r.Scenario] = r
	}
	assert.Contains(t, []stats.Verdict{stats.Same, stats.Unknown}, rows["netns"].Verdict, rows["netns"].Note)
	assert.InDelta(t, 1, rows["netns"].Boot.Ratio, 0.05)
	assert.True(t, rows["netns"].New.Calibrated)
	assert.Contains(t, rows["netns"].Note, "guest speed differed: calibration 2.00x the base's, divided out")
	assert.Equal(t, stats.Regressed, rows["ipcns"].Verdict)
	assert.InDelta(t, 1.3, rows["ipcns"].Boot.Ratio, 0.05)
	assert.InDelta(t, rows["ipcns"].Base.Median*1.3, rows["ipcns"].New.Median, rows["ipcns"].Base.Median*0.05, "figures in the base's speed")

	o.Calibrate = CalibrateOff
	for _, r := range CompareFiles(base, next, o) {
		assert.Equal(t, stats.Regressed, r.Verdict, "%s as measured", r.Scenario)
		assert.False(t, r.New.Calibrated)
		assert.NotContains(t, r.Note, "calibration")
	}
}

// auto calibrates only when the two sides' guests ran more than 1.2x
// apart: on a quiet host the calibration's own noise would only add.
func TestCalibrateAuto(t *testing.T) {
	for _, tc := range []struct {
		speed      float64
		calibrated bool
	}{{1e6, false}, {1.15e6, false}, {1.25e6, true}, {0.8e6, true}, {0.85e6, false}} {
		base := withSpeed(fixture("k", "6.1", 1, 6, 10, map[string]float64{"netns": 1}, nil), func(int) float64 { return 1e6 })
		next := withSpeed(fixture("k", "6.1", 2, 6, 10, map[string]float64{"netns": 1}, nil), func(int) float64 { return tc.speed })
		rows := CompareFiles(base, next, DefaultOptions())
		assert.Equal(t, tc.calibrated, rows[0].New.Calibrated, "new guest at %.2fx", tc.speed/1e6)
		assert.Equal(t, tc.calibrated, strings.Contains(rows[0].Note, "divided out"), rows[0].Note)
		o := DefaultOptions()
		o.Calibrate = CalibrateOn
		assert.True(t, CompareFiles(base, next, o)[0].New.Calibrated, "on: always")
	}
}

func TestCalibrationNotes(t *testing.T) {
	plain := func(seed uint64) *results.File {
		return fixture("k", "6.1", seed, 6, 10, map[string]float64{"netns": 1}, nil)
	}
	cal := func(seed uint64) *results.File { return withSpeed(plain(seed), func(int) float64 { return 1e6 }) }
	for _, tc := range []struct {
		name       string
		base, next *results.File
		fileNote   string
		rowNote    string
		calibrated bool
	}{
		{"both calibrated", cal(1), cal(2), "", "", true},
		{"neither: older runs, nothing to say", plain(1), plain(2), "", "", false},
		{"base from before calibration", plain(1), cal(2), "the base has no guest-speed calibration (recorded before it existed); compared as measured; record the baseline again", "", false},
		{"new without calibration", cal(1), plain(2), "the new run has no guest-speed calibration; compared as measured", "", false},
		{"one boot lacks it", cal(1), func() *results.File {
			f := cal(2)
			f.Boots[3].Calibration = map[string]*results.Calibration{"other": {Scenario: "other", LoopNS: []int64{1}}}
			return f
		}(), "", "not calibrated: a boot lacks this scenario's speed calibration; compared as measured", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			assert.Empty(t, fileNotes(tc.base, tc.next, o), "auto")
			o.Calibrate = CalibrateOn
			notes := fileNotes(tc.base, tc.next, o)
			if tc.fileNote == "" {
				assert.Empty(t, notes)
			} else {
				assert.Equal(t, []string{"k: " + tc.fileNote}, notes)
			}
			rows := CompareFiles(tc.base, tc.next, o)
			require.Len(t, rows, 1)
			assert.Equal(t, tc.calibrated, rows[0].New.Calibrated)
			if tc.rowNote == "" {
				assert.NotContains(t, rows[0].Note, "calibrat")
			} else {
				assert.Contains(t, rows[0].Note, tc.rowNote)
			}
		})
	}
}

// A run whose boots were added while unknown (matrix --adaptive) is
// compared at the level it was run with, not the plain one.
func TestAdaptiveRunComparedAtItsLevel(t *testing.T) {
	dir := t.TempDir()
	base := fixture("k", "6.1", 1, 20, 10, map[string]float64{"netns": 1}, nil)
	next := fixture("k", "6.1", 2, 7, 10, map[string]float64{"netns": 1}, nil)
	next.Plan.Boots, next.Plan.MaxBoots, next.Plan.AddedBoots = 5, 15, 2
	bp, np := filepath.Join(dir, "base.json"), filepath.Join(dir, "new.json")
	require.NoError(t, results.Write(bp, base))
	require.NoError(t, results.Write(np, next))
	r, err := Compare(bp, np, DefaultOptions())
	require.NoError(t, err)
	assert.Equal(t, stats.AdaptiveAlpha(0.01, 5, 15), r.Alpha)
	assert.Contains(t, r.Notes, fmt.Sprintf("k: an adaptive run (5 boots, up to 15), compared at α = %g a look, as it was run (overall 0.01)", stats.AdaptiveAlpha(0.01, 5, 15)))

	next.Plan.MaxBoots = 0
	require.NoError(t, results.Write(np, next))
	r, err = Compare(bp, np, DefaultOptions())
	require.NoError(t, err)
	assert.Equal(t, 0.01, r.Alpha, "a plain run")
}

// Timings on the wall clock and on the virtual clock measure different
// things: compare refuses to put them side by side.
func TestCompareRefusesDifferentClocks(t *testing.T) {
	dir := t.TempDir()
	base := fixture("k", "6.1", 1, 5, 10, map[string]float64{"netns": 1}, nil)
	next := fixture("k", "6.1", 2, 5, 10, map[string]float64{"netns": 1}, nil)
	next.Plan.Clock = "virtual"
	bp, np := filepath.Join(dir, "base.json"), filepath.Join(dir, "new.json")
	require.NoError(t, results.Write(bp, base))
	require.NoError(t, results.Write(np, next))
	_, err := Compare(bp, np, DefaultOptions())
	require.ErrorIs(t, err, ErrClocksDiffer)
	assert.Contains(t, err.Error(), "wall clock")
	assert.Contains(t, err.Error(), "virtual clock")

	base.Plan.Clock = "virtual"
	require.NoError(t, results.Write(bp, base))
	_, err = Compare(bp, np, DefaultOptions())
	require.NoError(t, err, "both virtual")
}
