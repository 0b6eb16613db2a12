package stats

import "slices"

// Calibrate divides each group (one boot's samples) by that boot's speed
// relative to ref, speeds[i] being how long a fixed piece of work took in
// group i's boot: a boot whose calibration took 10% longer than ref has
// its samples divided by 1.1. It returns new slices.
func Calibrate(groups [][]float64, speeds []float64, ref float64) [][]float64 {
	out := make([][]float64, len(groups))
	for i, g := range groups {
		out[i] = slices.Clone(g)
		for j := range out[i] {
			out[i][j] *= ref / speeds[i]
		}
	}
	return out
}
