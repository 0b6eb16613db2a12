package baseline

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"coldstart/harness/results"
	"coldstart/plan"
)

// file has boots boots of netns (20 samples each) and oci-run/csrun/none
// (perBoot samples each), with the plan's slow_iterations.
func file(boots, perBoot, slowIterations int) *results.File {
	f := &results.File{Schema: results.Schema, Complete: true,
		Kernel:    results.Kernel{Name: "k"},
		Plan:      results.Plan{Plan: plan.Plan{Scenarios: []string{"netns", "oci-run/csrun/none"}, Boots: boots, Iterations: 20, SlowIterations: slowIterations}},
		Scenarios: map[string]*results.Scenario{}}
	for _, sc := range []struct {
		name string
		n    int
	}{{"netns", 20}, {"oci-run/csrun/none", perBoot}} {
		s := &results.Scenario{Status: results.StatusOK}
		for b := 0; b < boots; b++ {
			for i := 0; i < sc.n; i++ {
				s.Samples = append(s.Samples, results.Sample{Boot: b, Iter: i, WallNS: int64(1e6 + i)})
			}
		}
		f.Scenarios[sc.name] = s
	}
	for b := 0; b < boots; b++ {
		f.Boots = append(f.Boots, results.Boot{Index: b, Status: "ok"})
	}
	return f
}

func TestCheckSamplesPerBoot(t *testing.T) {
	tests := []struct {
		name    string
		f       *results.File
		wantErr string
	}{
		{"a default matrix run: 5 container runs a boot, as planned", file(20, 5, 5), ""},
		{"fewer container runs than planned", file(20, 4, 5), "oci-run/csrun/none has 0 usable boots with ≥5 samples"},
		{"no slow plan: 10 samples needed", file(20, 5, 0), "oci-run/csrun/none has 0 usable boots with ≥10 samples"},
		{"too few boots", file(4, 5, 5), "netns has 4 usable boots with ≥10 samples, needs 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check("x.json", tt.f, DefaultOptions())
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrUnfit)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
