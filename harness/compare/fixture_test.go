package compare

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"coldstart/harness/machine"
	"coldstart/harness/results"
)

// fixture builds a result file: for each scenario a scale (1 = 5 ms) or a
// status; boots × iters samples, seeded. coarse marks boots whose clock was
// coarse.
func fixture(kernel, version string, seed uint64, boots, iters int, scales map[string]float64, status map[string]string, coarse ...int) *results.File {
	rng := rand.New(rand.NewPCG(seed, 9))
	f := &results.File{Schema: results.Schema, Accel: "tcg", Complete: true, Machine: fixtureMachine(),
		Kernel:    results.Kernel{Name: kernel, Version: version, Release: version + "-cloud-amd64"},
		Scenarios: map[string]*results.Scenario{},
		Started:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	order := []string{"netns", "ipcns", "utsns", "mqueue", "clone-all", "userns"}
	for _, n := range order {
		if _, ok := scales[n]; ok {
			f.Plan.Scenarios = append(f.Plan.Scenarios, n)
		} else if _, ok := status[n]; ok {
			f.Plan.Scenarios = append(f.Plan.Scenarios, n)
		}
	}
	isCoarse := map[int]bool{}
	for _, c := range coarse {
		isCoarse[c] = true
	}
	for b := 0; b < boots; b++ {
		f.Boots = append(f.Boots, results.Boot{Index: b, Status: "ok", ClockCoarse: isCoarse[b], Clocksource: "hpet"})
	}
	for _, n := range f.Plan.Scenarios {
		if st, ok := status[n]; ok {
			f.Scenarios[n] = &results.Scenario{Status: st, Reason: "kernel lacks CONFIG_USER_NS", Option: "CONFIG_USER_NS"}
			if st == results.StatusFailed {
				f.Scenarios[n].Reason = "clone: ENOSPC"
				f.Scenarios[n].Option = ""
			}
			continue
		}
		sc := &results.Scenario{Status: results.StatusOK}
		for b := 0; b < boots; b++ {
			level := scales[n] * 5e6 * math.Exp(0.03*rng.NormFloat64())
			for i := 0; i < iters; i++ {
				v := level * math.Exp(0.2*rng.NormFloat64())
				if isCoarse[b] {
					v = math.Round(v/4e6) * 4e6
				}
				sc.Samples = append(sc.Samples, results.Sample{Boot: b, Iter: i, WallNS: int64(v), OpNS: int64(v / 2)})
			}
		}
		f.Scenarios[n] = sc
	}
	return f
}

// fixtureMachine is the machine every fixture ran on.
func fixtureMachine() *machine.Fingerprint {
	return &machine.Fingerprint{CPUModel: "AMD EPYC 7763 64-Core Processor", HostCPUs: 2, HostKernel: "6.1.0-41-amd64",
		QEMU: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b2)", Accel: "tcg", VCPUs: 2, MemoryMB: 1024}
}

// fixtureRuns writes a base and a new run directory with two kernels:
// netns regressed by 30% on 6.1, ipcns the same, utsns shifted by 4%
// (inside the threshold, but not clearly), mqueue improved, userns
// unsupported, clone-all failed in the new run; 6.12's new run has a boot
// with a coarse clock.
func fixtureRuns(t *testing.T) (base, next string) {
	t.Helper()
	return fixtureRunsWith(t, nil)
}

// fixtureRunsWith is fixtureRuns with mutate applied to each file before
// it is written; side is "base" or "new".
func fixtureRunsWith(t *testing.T, mutate func(side string, f *results.File)) (base, next string) {
	t.Helper()
	dir := t.TempDir()
	base, next = filepath.Join(dir, "base"), filepath.Join(dir, "new")
	require.NoError(t, os.MkdirAll(base, 0o755))
	require.NoError(t, os.MkdirAll(next, 0o755))
	unsup := map[string]string{"userns": results.StatusUnsupported}
	write := func(d string, f *results.File) {
		if mutate != nil {
			mutate(filepath.Base(d), f)
		}
		require.NoError(t, results.Write(filepath.Join(d, f.Kernel.Name+".json"), f))
	}
	write(base, fixture("debian-6.1-cloud", "6.1.192", 1, 8, 20,
		map[string]float64{"netns": 2, "ipcns": 1, "utsns": 0.4, "mqueue": 0.5, "clone-all": 4}, unsup))
	write(next, fixture("debian-6.1-cloud", "6.1.192", 2, 8, 20,
		map[string]float64{"netns": 2.6, "ipcns": 1, "utsns": 0.416, "mqueue": 0.35}, map[string]string{"userns": results.StatusUnsupported, "clone-all": results.StatusFailed}))
	write(base, fixture("debian-6.12-cloud", "6.12.117", 3, 6, 20,
		map[string]float64{"netns": 1.5, "ipcns": 0.2}, nil))
	write(next, fixture("debian-6.12-cloud", "6.12.117", 4, 7, 20,
		map[string]float64{"netns": 1.5, "ipcns": 0.2}, nil, 2))
	return base, next
}
