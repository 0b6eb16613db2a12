package matrix

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"coldstart/harness/results"
	"coldstart/internal/golden"
	"coldstart/plan"
)

// Two good boots and a failed one, whose times are left out; a file from
// before the timeline adds no row.
func TestWriteTimes(t *testing.T) {
	f := &results.File{Kernel: results.Kernel{Name: "debian-6.1-cloud"}, Plan: results.Plan{Plan: plan.Plan{Scenarios: []string{"netns", "oci-run/runc/default"}, Boots: 3}}}
	samples := map[int]map[string][]results.Sample{}
	for b, scale := range []float64{1, 2} {
		f.Boots = append(f.Boots, results.Boot{
			Index: b, Status: results.StatusOK, HelloMS: 4100 * scale, PrepareMS: 300 * scale, ShutdownMS: 40,
			DurationMS: 13440 * scale,
			ScenarioMS: map[string]float64{"netns": 3000 * scale, "oci-run/runc/default": 6000 * scale},
			Calibration: map[string]*results.Calibration{
				"netns":                {SettleNS: []int64{100e6, 200e6}, LoopNS: []int64{50e6, 50e6}},
				"oci-run/runc/default": {SettleNS: []int64{400e6, 500e6}, LoopNS: []int64{60e6, 60e6}, Shared: true},
			},
		})
		samples[b] = map[string][]results.Sample{
			"netns":                {{Boot: b, WallNS: int64(1e9 * scale)}, {Boot: b, WallNS: int64(1e9 * scale)}},
			"oci-run/runc/default": {{Boot: b, WallNS: int64(4e9 * scale)}},
		}
	}
	f.Boots = append(f.Boots, results.Boot{Index: 2, Status: results.StatusFailed, DurationMS: 99e3, ScenarioMS: map[string]float64{"netns": 99e3}})
	f.Rebuild(samples)
	old := &results.File{Kernel: results.Kernel{Name: "old-run"}, Boots: []results.Boot{{Status: results.StatusOK, DurationMS: 5000}}}

	var buf bytes.Buffer
	require.NoError(t, WriteTimes(&buf, []*results.File{f, old}))
	golden.Check(t, "times.txt", buf.Bytes())

	buf.Reset()
	require.NoError(t, WriteTimes(&buf, []*results.File{old}))
	require.Empty(t, buf.String())
}
