package stats

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Reference values from scipy 1.10.1 (Debian 12's python3-scipy):
// scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method=...) and
// scipy.stats.ks_2samp(x, y, method="exact"); the script that made them is
// in testdata/scipy_ref.py.
var refCases = []struct {
	name       string
	x, y       []float64
	u, pU      float64
	d, pKS     float64
	ksAsymptot bool
}{
	{"small distinct (exact)", []float64{1.1, 2.2, 3.3, 4.4, 5.5}, []float64{3.5, 6.6, 7.7, 8.8, 9.9, 10.1},
		2.0, 0.017316017316017316, 0.8333333333333334, 0.025974025974025972, false},
	{"separated 5 vs 5", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10},
		0.0, 0.007936507936507936, 1.0, 0.007936507936507936, false},
	{"overlap 3 vs 3", []float64{1, 4, 7}, []float64{2, 5, 8},
		3.0, 0.7, 0.3333333333333333, 1.0, false},
	{"unequal sizes", []float64{0.5, 1.5, 2.5, 9.0}, []float64{1.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0},
		9.0, 0.4121212121212121, 0.6071428571428571, 0.21212121212121218, false},
	{"ties (normal approximation)", []float64{1, 2, 2, 3, 3, 3, 4}, []float64{2, 3, 4, 4, 5, 5, 6, 7},
		8.5, 0.025279736885893914, 0.6071428571428571, 0.08702408702408701, false},
	{"20 vs 25 exact", seq(1, 40, 2, 0), seq(10, 60, 2, 0.5),
		120.0, 0.002495927820404439, 0.4, 0.04271173896938202, false},
	{"60 vs 70 lognormal, ties", []float64{3.231, 4.099, 3.207, 1.417, 4.275, 3.398, 2.078, 3.635, 3.262, 3.149, 2.757, 3.573, 1.881, 2.506, 2.136, 3.667, 2.773, 2.348, 1.839, 2.39, 2.729, 2.368, 5.192, 4.497, 0.701, 1.057, 2.491, 2.201, 3.025, 3.03, 7.837, 1.559, 2.251, 7.549, 3.756, 3.787, 2.102, 1.192, 2.956, 2.871, 1.472, 1.932, 2.622, 1.695, 2.588, 2.851, 2.767, 2.11, 3.658, 4.244, 3.191, 1.806, 3.919, 2.115, 4.219, 1.591, 4.294, 2.691, 1.456, 2.323}, []float64{3.411, 3.805, 2.032, 1.908, 3.669, 2.629, 3.735, 4.854, 1.456, 3.77, 6.125, 2.861, 2.214, 4.836, 3.769, 5.196, 2.794, 1.583, 3.142, 2.657, 4.892, 3.658, 1.469, 1.827, 5.165, 4.664, 2.411, 3.318, 4.149, 4.196, 5.145, 3.774, 3.166, 2.917, 5.629, 1.077, 3.098, 3.375, 1.628, 3.921, 2.397, 5.11, 3.118, 4.639, 6.107, 4.021, 2.143, 1.557, 7.978, 3.14, 2.353, 3.568, 3.017, 5.084, 3.377, 3.343, 2.323, 4.199, 1.98, 4.632, 7.113, 1.549, 0.967, 4.52, 11.869, 2.013, 1.777, 4.457, 2.181, 2.578},
		1583.5, 0.01596107077217849, 0.24523809523809523, 0.0338890548205041, false},
}

func seq(from, to, step int, add float64) []float64 {
	var v []float64
	for i := from; i < to; i += step {
		v = append(v, float64(i)+add)
	}
	return v
}

func TestMannWhitneyUAgainstScipy(t *testing.T) {
	for _, c := range refCases {
		t.Run(c.name, func(t *testing.T) {
			u, p := MannWhitneyU(c.x, c.y)
			assert.InDelta(t, c.u, u, 1e-9, "U")
			assert.InEpsilon(t, c.pU, p, 1e-9, "p")
		})
	}
}

func TestKolmogorovSmirnovAgainstScipy(t *testing.T) {
	for _, c := range refCases {
		t.Run(c.name, func(t *testing.T) {
			d, p := KolmogorovSmirnov(c.x, c.y)
			assert.InDelta(t, c.d, d, 1e-12, "D")
			assert.InEpsilon(t, c.pKS, p, 1e-9, "p")
		})
	}
}

// Beyond MaxExactKS the asymptotic distribution is used; scipy's "asymp"
// method differs in its small-sample correction, so agreement is loose.
func TestKolmogorovSmirnovAsymptotic(t *testing.T) {
	x := []float64{-0.3481, 0.532, -0.4053, 0.2779, -0.1765, -0.8447, -0.3198, -0.9504, 0.0065, -1.1239, -1.0929, 1.457, -0.0532, -0.0539, 0.5115, -0.4209, -0.2285, 0.4251, 0.2824, -1.1593, 0.8333, -0.5904, -1.0561, -0.9005, -0.3905, 1.6273, -1.1755, 0.1601, -2.1378, -0.0016, 0.8996, -0.2367, -0.6294, 0.2315, 0.7002, 0.6637, 1.9725, 0.2092, -0.5924, -0.126, -0.0725, 0.1087, -0.03, 0.174, -1.6709, 0.8296, -0.5747, -1.1732, 0.6378, 1.3173, 0.493, 0.1612, -0.9322, 2.8716, 0.8803, -1.1393, -0.7796, 0.087, -1.5547, 0.1686, -0.4591, 1.2263, 0.9622, -2.7113, 0.0417, -1.6175, 1.1096, 0.1681, 0.5484, -1.0651, 1.8284, 2.0201, -1.0648, 0.3728, -0.6733, -0.0236, -1.2656, 1.8671, -0.9692, -0.2961, 0.5015, -0.6476, -0.2393, -0.5636, -0.1335, -1.1705, -0.438, -0.2069, -0.3337, 0.0567, -0.2931, 0.7532, -0.3232, -0.1366, -0.6648, -0.5265, -1.2645, 0.5188, -1.1425, -0.7459, 0.3592, 0.4026, -0.4001, -2.0193, 0.4205, 0.2596, -1.4124, 0.7703, -0.7011, -1.1262, 0.0957, -0.1785, 0.2026, -1.6057, 1.8122, -0.6027, -1.5397, 0.6188, -0.3548, 0.3249, -0.3396, -0.0597, 0.2458, -0.7467, 0.6787, -0.4699, -0.8697, 0.077, 0.445, -0.2291, -0.8625, 0.6198, -1.7603, -1.0309, 0.0395, -1.3611, 0.028, -0.0549, 0.8987, -0.9148, -0.6259, 0.3332, -2.4576, 3.1, -0.6987, -0.7298, 0.8611, -0.0398, -1.7794, 0.6269}
	y := []float64{1.1554, -0.1499, 0.0184, 0.786, -0.6088, 0.7384, 0.4993, -0.3749, -1.0921, 0.0744, -0.5754, 1.3014, 0.4441, 1.0821, 0.4346, 0.5629, -0.483, 0.968, 2.0847, -0.0097, -0.2928, 0.1422, -0.1813, -0.4015, 0.4382, 0.0091, 1.7389, 0.3002, 0.6239, 1.252, -0.0008, 1.7367, -0.3327, -0.5083, -0.0663, 0.1853, -1.1013, 0.2649, -1.3675, 1.6921, 0.219, -0.342, -0.6083, -0.0844, 0.0769, -0.7445, -0.6198, 0.1128, -0.2208, 1.2392, 1.4379, 0.316, 0.7736, -1.0352, 0.9374, 0.2694, 0.7847, 1.9004, -1.9809, 0.5609, -0.7991, 0.8922, -1.0133, -0.1954, 0.5027, 0.9135, 0.3748, -0.4928, -0.2535, 1.1845, 0.2945, -1.3838, 1.1437, 0.7162, 1.1734, -0.0366, 1.1282, -0.7611, 0.87, -0.1904, 0.9744, 1.3056, -0.436, 0.2488, 0.339, 1.4897, 1.0106, -0.9193, 0.7576, 1.0451, 2.4238, -1.3791, -0.2364, 1.6334, -1.0551, -0.8995, 0.8171, 1.3184, -0.3687, 0.8401, 0.417, 1.8187, 0.2985, 1.2902, -0.6031, 0.1151, 0.2033, 1.4391, 0.8796, -0.4518, 0.982, 1.0706, 0.1884, 0.0423, 0.1062, -1.395, 0.4887, 0.5346, -0.5655, 1.0424}
	d, p := KolmogorovSmirnov(x, y)
	assert.InDelta(t, 0.2316666666666667, d, 1e-12)
	assert.InEpsilon(t, 0.0012076570926337071, p, 0.15)
}

func TestRankTestsSymmetricAndDegenerate(t *testing.T) {
	x, y := []float64{3, 1, 4, 1, 5}, []float64{9, 2, 6, 5, 3, 5}
	u1, p1 := MannWhitneyU(x, y)
	u2, p2 := MannWhitneyU(y, x)
	assert.InDelta(t, float64(len(x)*len(y)), u1+u2, 1e-9)
	assert.InDelta(t, p1, p2, 1e-12)
	d1, q1 := KolmogorovSmirnov(x, y)
	d2, q2 := KolmogorovSmirnov(y, x)
	assert.Equal(t, d1, d2)
	assert.InDelta(t, q1, q2, 1e-12)

	_, p := MannWhitneyU([]float64{2, 2, 2}, []float64{2, 2})
	assert.Equal(t, 1.0, p, "all equal")
	_, p = MannWhitneyU(nil, y)
	assert.Equal(t, 1.0, p, "empty")
	d, p := KolmogorovSmirnov([]float64{1, 2}, []float64{1, 2})
	assert.Equal(t, 0.0, d)
	assert.Equal(t, 1.0, p)
}

// The smallest p an exact test can give is 2/C(n+m, n): with three boots a
// side it is 0.1, so p ≤ 0.01 needs at least five boots a side.
func TestMinimumExactP(t *testing.T) {
	sep := func(n, m int) float64 {
		_, p := MannWhitneyU(seq(0, n, 1, 0), seq(100, 100+m, 1, 0))
		return p
	}
	assert.InDelta(t, 0.1, sep(3, 3), 1e-12)
	assert.InDelta(t, 2.0/70, sep(4, 4), 1e-12)
	assert.InDelta(t, 2.0/252, sep(5, 5), 1e-12)
	assert.InDelta(t, MinExactP(5, 5), sep(5, 5), 1e-12)
	assert.True(t, math.Abs(MinExactP(3, 3)-0.1) < 1e-12)
}

func TestMADAndSummary(t *testing.T) {
	assert.InDelta(t, 1.0, MAD([]float64{1, 1, 2, 2, 4, 6, 9}), 1e-12) // scipy.stats.median_abs_deviation
	assert.True(t, math.IsNaN(MAD(nil)))
	s := Summarize([]float64{1, 2, 3, 4, 5})
	assert.InDelta(t, 2.0, s.P25, 1e-12)
	assert.InDelta(t, 4.0, s.P75, 1e-12)
	assert.InDelta(t, 1.0, s.MAD, 1e-12)
}

func TestBootstrapIsDeterministicAndCoversTruth(t *testing.T) {
	xs := seq(1, 102, 1, 0) // median 51
	a := MedianCI(xs, 0.95, 0, 7)
	b := MedianCI(xs, 0.95, 0, 7)
	assert.Equal(t, a, b, "same seed, same interval")
	assert.True(t, a.Contains(51), "%v", a)
	assert.Less(t, a.Hi-a.Lo, 30.0)

	base := seq(100, 200, 1, 0)
	next := make([]float64, len(base))
	for i, v := range base {
		next[i] = v * 1.2
	}
	r := RatioCI(base, next, 0.95, 0, 1)
	assert.True(t, r.Contains(1.2), "%v", r)
	assert.Greater(t, r.Lo, 1.0)

	g := GroupRatioCI([][]float64{base, base}, [][]float64{next, next}, 0.95, 500, 1)
	assert.True(t, g.Contains(1.2), "%v", g)
	single := MedianCI([]float64{4}, 0.95, 10, 1)
	assert.Equal(t, 4.0, single.Lo)
	assert.Equal(t, 4.0, single.Hi)
	assert.True(t, math.IsNaN(GroupRatioCI(nil, [][]float64{{1}}, 0.95, 10, 1).Lo))
}

func BenchmarkGroupRatioCI(b *testing.B) {
	var base, next [][]float64
	for i := 0; i < 10; i++ {
		base = append(base, seq(0, 20, 1, float64(i)))
		next = append(next, seq(0, 20, 1, float64(i)+0.5))
	}
	for b.Loop() {
		GroupRatioCI(base, next, 0.95, DefaultRounds, 1)
	}
}

func BenchmarkMannWhitneyUExact50(b *testing.B) {
	x, y := seq(0, 100, 2, 0), seq(1, 101, 2, 0)
	for b.Loop() {
		MannWhitneyU(x, y)
	}
}
