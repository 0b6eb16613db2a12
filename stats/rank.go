package stats

import (
	"math"
	"slices"
)

// MaxExactMWU is the largest sample size (on either side) for which
// MannWhitneyU computes the exact null distribution; larger samples, and
// samples with ties, use the normal approximation. benchstat makes the same
// choice.
const MaxExactMWU = 50

// MaxExactKS bounds n·m for the exact Kolmogorov-Smirnov p-value; beyond it
// the asymptotic Kolmogorov distribution is used.
const MaxExactKS = 10000

// MannWhitneyU tests whether x and y come from the same distribution
// against the two-sided alternative that one is stochastically larger. It
// returns U for x (the number of pairs with x > y, ties counting one half,
// as scipy.stats.mannwhitneyu) and the two-sided p-value: exact for samples
// without ties of at most MaxExactMWU values each, otherwise the normal
// approximation with tie and continuity corrections. p is 1 when either
// sample is empty.
func MannWhitneyU(x, y []float64) (u, p float64) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return math.NaN(), 1
	}
	ranks, ties := midranks(x, y)
	var r1 float64
	for _, r := range ranks[:n1] {
		r1 += r
	}
	u = r1 - float64(n1*(n1+1))/2
	if ties == 0 && n1 <= MaxExactMWU && n2 <= MaxExactMWU {
		return u, mwuExactP(u, n1, n2)
	}
	return u, mwuNormalP(u, n1, n2, ties)
}

// midranks ranks the pooled sample (x first, then y), giving tied values
// the mean of their ranks, and returns Σ(t³-t) over groups of ties.
func midranks(x, y []float64) (ranks []float64, ties float64) {
	n := len(x) + len(y)
	idx := make([]int, n)
	val := make([]float64, n)
	for i := range idx {
		idx[i] = i
		if i < len(x) {
			val[i] = x[i]
		} else {
			val[i] = y[i-len(x)]
		}
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case val[a] < val[b]:
			return -1
		case val[a] > val[b]:
			return 1
		}
		return 0
	})
	ranks = make([]float64, n)
	for i := 0; i < n; {
		j := i + 1
		for j < n && val[idx[j]] == val[idx[i]] {
			j++
		}
		r := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			ranks[idx[k]] = r
		}
		if t := float64(j - i); t > 1 {
			ties += t*t*t - t
		}
		i = j
	}
	return ranks, ties
}

// mwuExactP is the two-sided exact p-value, 2·min(P(U ≤ u), P(U ≥ u)),
// capped at 1.
func mwuExactP(u float64, n1, n2 int) float64 {
	pmf := mwuPMF(n1, n2)
	k := int(math.Round(u))
	var lo, hi float64
	for i, v := range pmf {
		if i <= k {
			lo += v
		}
		if i >= k {
			hi += v
		}
	}
	return math.Min(1, 2*math.Min(lo, hi))
}

// mwuPMF is the null distribution of U for samples of n1 and n2 distinct
// values, by the recurrence f(i,j,u) = i/(i+j)·f(i-1,j,u-j) + j/(i+j)·f(i,j-1,u)
// (the largest value is an x, beating all j y's, or a y). All terms are
// positive, so the tail probabilities keep their precision.
func mwuPMF(n1, n2 int) []float64 {
	prev := make([][]float64, n2+1) // row i-1, indexed by j
	for j := range prev {
		prev[j] = []float64{1}
	}
	for i := 1; i <= n1; i++ {
		cur := make([][]float64, n2+1)
		cur[0] = []float64{1}
		for j := 1; j <= n2; j++ {
			pm := make([]float64, i*j+1)
			a := float64(i) / float64(i+j)
			b := 1 - a
			for k, v := range prev[j] {
				pm[k+j] += a * v
			}
			for k, v := range cur[j-1] {
				pm[k] += b * v
			}
			cur[j] = pm
		}
		prev = cur
	}
	return prev[n2]
}

// mwuNormalP is scipy's asymptotic two-sided p-value with continuity
// correction: z = (max(U1,U2) - n1·n2/2 - 1/2) / σ, σ corrected for ties.
func mwuNormalP(u float64, n1, n2 int, ties float64) float64 {
	fn1, fn2 := float64(n1), float64(n2)
	n := fn1 + fn2
	umax := math.Max(u, fn1*fn2-u)
	mu := fn1 * fn2 / 2
	v := fn1 * fn2 / 12 * ((n + 1) - ties/(n*(n-1)))
	if v <= 0 {
		return 1 // every value equal
	}
	z := (umax - mu - 0.5) / math.Sqrt(v)
	return math.Max(0, math.Min(1, math.Erfc(z/math.Sqrt2)))
}

// KolmogorovSmirnov is the two-sample Kolmogorov-Smirnov test: d is the
// largest distance between the two empirical distribution functions and p
// the two-sided p-value P(D ≥ d) under the null hypothesis. p is exact
// (lattice-path counting, as scipy.stats.ks_2samp's method="exact") when
// n·m ≤ MaxExactKS, otherwise the asymptotic Kolmogorov distribution with
// Stephens' small-sample correction. p is 1 when either sample is empty.
func KolmogorovSmirnov(x, y []float64) (d, p float64) {
	n, m := len(x), len(y)
	if n == 0 || m == 0 {
		return math.NaN(), 1
	}
	a, b := slices.Clone(x), slices.Clone(y)
	slices.Sort(a)
	slices.Sort(b)
	// D·n·m is an integer: |i·m - j·n| at each distinct value.
	var dnm, i, j int
	for i < n || j < m {
		var v float64
		switch {
		case i == n:
			v = b[j]
		case j == m:
			v = a[i]
		default:
			v = math.Min(a[i], b[j])
		}
		for i < n && a[i] == v {
			i++
		}
		for j < m && b[j] == v {
			j++
		}
		dnm = max(dnm, abs(i*m-j*n))
	}
	d = float64(dnm) / float64(n*m)
	if n*m <= MaxExactKS {
		return d, ksExactP(dnm, n, m)
	}
	en := float64(n*m) / float64(n+m)
	return d, kolmogorovQ((math.Sqrt(en) + 0.12 + 0.11/math.Sqrt(en)) * d)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// ksExactP counts the monotone lattice paths from (0,0) to (n,m) that stay
// strictly inside |i·m - j·n| < dnm; p is one minus their share of all
// paths. Counts are kept as probabilities of a uniformly random path so that
// nothing overflows.
func ksExactP(dnm, n, m int) float64 {
	if dnm == 0 {
		return 1
	}
	// f[j] = probability that a random path passes (i,j) having stayed
	// inside. A random path steps right (i+1) from (i,j) with probability
	// (n-i)/(n-i+m-j).
	f := make([]float64, m+1)
	f[0] = 1
	for i := 0; i <= n; i++ {
		next := make([]float64, m+1)
		for j := 0; j <= m; j++ {
			if abs(i*m-j*n) >= dnm {
				f[j] = 0
			}
			if f[j] == 0 {
				continue
			}
			left := n - i + m - j
			if left == 0 {
				continue
			}
			if i < n {
				next[j] += f[j] * float64(n-i) / float64(left)
			}
			if j < m {
				f[j+1] += f[j] * float64(m-j) / float64(left)
			}
		}
		if i == n {
			return math.Max(0, math.Min(1, 1-f[m]))
		}
		f = next
	}
	return 1 // not reached
}

// kolmogorovQ is the survival function of the Kolmogorov distribution,
// Q(λ) = 2 Σ (-1)^(k-1) exp(-2k²λ²).
func kolmogorovQ(lambda float64) float64 {
	if lambda < 0.2 {
		return 1
	}
	var sum float64
	sign := 1.0
	for k := 1; k <= 100; k++ {
		t := sign * 2 * math.Exp(-2*float64(k*k)*lambda*lambda)
		sum += t
		if math.Abs(t) < 1e-12*math.Abs(sum) {
			break
		}
		sign = -sign
	}
	return math.Max(0, math.Min(1, sum))
}

// MinExactP is the smallest two-sided p-value the exact rank tests can give
// for samples of n and m distinct values, 2/C(n+m, n): complete separation.
// A verdict at level α needs MinExactP(n, m) ≤ α.
func MinExactP(n, m int) float64 {
	if n == 0 || m == 0 {
		return 1
	}
	// C(n+m, n) as a float, by the product formula.
	c := 1.0
	for i := 1; i <= n; i++ {
		c = c * float64(m+i) / float64(i)
	}
	return math.Min(1, 2/c)
}
