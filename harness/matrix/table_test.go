package matrix

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/results"
	"coldstart/plan"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestRatiosPairWithinBoots(t *testing.T) {
	plan := results.Plan{Plan: plan.Plan{Scenarios: []string{"oci-run/csrun/default", "oci-run/crun/default", "oci-run/csrun/cached"}, Boots: 2, Iterations: 3}}
	f := &results.File{Plan: plan}
	samples := map[int]map[string][]results.Sample{}
	for b, scale := range []int64{1, 3} { // boot 1 runs 3x slower: drift that pairing cancels
		f.Boots = append(f.Boots, results.Boot{Index: b, Status: results.StatusOK})
		samples[b] = map[string][]results.Sample{}
		for i, base := range map[string]int64{"oci-run/csrun/default": 80, "oci-run/crun/default": 100, "oci-run/csrun/cached": 40} {
			for it := int64(0); it < 3; it++ {
				samples[b][i] = append(samples[b][i], results.Sample{Boot: b, WallNS: scale * (base + it)})
			}
		}
	}
	f.Rebuild(samples)
	r := Ratios(f)
	require.Len(t, r, 2)
	assert.Equal(t, "csrun/crun (default)", r[0].Name)
	assert.InDelta(t, 81.0/101.0, r[0].Ratio, 1e-9)
	assert.Equal(t, 2, r[0].Boots)
	assert.Equal(t, "csrun cached/default", r[1].Name)
	assert.InDelta(t, 41.0/81.0, r[1].Ratio, 1e-9)
}

// TestWriteTableGolden prints the table of a real run (3 boots x 20
// iterations of the default kernel, testdata/run.json).
func TestWriteTableGolden(t *testing.T) {
	f, err := results.Read(filepath.Join("testdata", "run.json"))
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, WriteTable(&b, f))
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, b.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	if string(want) != b.String() {
		os.WriteFile(golden+".got", b.Bytes(), 0o644)
		assert.Equal(t, string(want), b.String(), "(-want +got); new output in %s.got", golden)
	}
}
