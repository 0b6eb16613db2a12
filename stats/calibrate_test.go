package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCalibrate(t *testing.T) {
	g := [][]float64{{10, 20}, {30}}
	out := Calibrate(g, []float64{2, 4}, 2)
	assert.Equal(t, [][]float64{{10, 20}, {15}}, out)
	assert.Equal(t, [][]float64{{10, 20}, {30}}, g, "the input is left alone")
}

// hostModel adds a host whose speed moves from boot to boot (σ hostSD of
// the log, the same for every scenario of a boot) to model, and a
// calibration that measures it with an error of σ calSD.
type hostModel struct {
	model
	hostSD, calSD float64
}

func (m hostModel) draw(rng *rand.Rand, scale float64) ([][]float64, []float64) {
	g := m.model.draw(rng, scale)
	speeds := make([]float64, len(g))
	for b := range g {
		host := math.Exp(m.hostSD * rng.NormFloat64())
		for i := range g[b] {
			g[b][i] *= host
		}
		speeds[b] = 1e6 * host * math.Exp(m.calSD*rng.NormFloat64())
	}
	return g, speeds
}

func hostRate(m hostModel, shift float64, calibrated bool, n int, seed uint64) map[Verdict]float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	o := DefaultRule()
	o.Rounds = 400
	out := map[Verdict]float64{}
	for i := 0; i < n; i++ {
		o.Seed = uint64(i)
		base, bs := m.draw(rng, 1)
		next, ns := m.draw(rng, shift)
		if calibrated {
			ref := Median(bs)
			base, next = Calibrate(base, bs, ref), Calibrate(next, ns, ref)
		}
		v, _, _ := Decide(base, next, 0.05, o)
		out[v] += 1 / float64(n)
	}
	return out
}

// With a host whose speed moves by 30% from boot to boot (what a loaded
// development machine showed), 20 boots a side of the raw timings find a
// 20% step less than a fifth of the time; calibrated, as often as on a
// quiet host. Calibration adds no false alarms.
func TestCalibrationRestoresPower(t *testing.T) {
	m := hostModel{model: defaultModel, hostSD: 0.3, calSD: 0.02}
	raw := hostRate(m, 1.2, false, 200, 31)
	cal := hostRate(m, 1.2, true, 200, 31)
	quiet := hostRate(hostModel{model: m.model}, 1.2, false, 200, 31)
	t.Logf("20%% step, 20 vs 20 boots, host σ 0.3: raw %v, calibrated %v, quiet host %v", raw, cal, quiet)
	assert.Less(t, raw[Regressed], 0.2)
	assert.GreaterOrEqual(t, cal[Regressed], 0.95)
	assert.InDelta(t, quiet[Regressed], cal[Regressed], 0.05)
	same := hostRate(m, 1, true, 200, 32)
	noFalseAlarms(t, same)
}
