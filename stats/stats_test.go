package stats

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []float64{3}, Summary{N: 1, Median: 3, Mean: 3, Min: 3, Max: 3, P05: 3, P95: 3}},
		{"odd unsorted", []float64{5, 1, 3}, Summary{N: 3, Median: 3, Mean: 3, StdDev: 2, Min: 1, Max: 5, P05: 1.2, P95: 4.8}},
		{"even", []float64{1, 2, 3, 4}, Summary{N: 4, Median: 2.5, Mean: 2.5, StdDev: math.Sqrt(5.0 / 3), Min: 1, Max: 4, P05: 1.15, P95: 3.85}},
		// Bimodal netns-like timings: the median ignores the slow mode the
		// mean is dragged by.
		{"bimodal", []float64{1, 1, 1, 1, 100}, Summary{N: 5, Median: 1, Mean: 20.8, StdDev: math.Sqrt(9801.0 * 4 / 5 / 4 * 1), Min: 1, Max: 100, P05: 1, P95: 80.2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.in)
			assert.Equal(t, tt.want.N, got.N)
			for _, f := range []struct {
				name      string
				want, got float64
			}{
				{"median", tt.want.Median, got.Median}, {"mean", tt.want.Mean, got.Mean},
				{"sd", tt.want.StdDev, got.StdDev}, {"min", tt.want.Min, got.Min}, {"max", tt.want.Max, got.Max},
				{"p05", tt.want.P05, got.P05}, {"p95", tt.want.P95, got.P95},
			} {
				assert.InDelta(t, f.want, f.got, 1e-9, f.name)
			}
		})
	}
}

func TestQuantileDoesNotReorderInput(t *testing.T) {
	in := []float64{3, 1, 2}
	assert.Equal(t, 2.0, Median(in))
	assert.Equal(t, []float64{3, 1, 2}, in)
	assert.True(t, math.IsNaN(Median(nil)))
}
