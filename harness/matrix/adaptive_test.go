package matrix

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/compare"
	"coldstart/harness/kernels"
	"coldstart/harness/qemu"
	"coldstart/harness/results"
	"coldstart/plan"
	"coldstart/stats"
)

// A fake kernel of the adaptive tests: its baseline's boots and the wall
// time of each sample, per boot and iteration, on both sides. Values are
// deterministic, so each verdict is known in advance.
type fakeKernel struct {
	name      string
	baseBoots int // 0: no baseline
	base, run func(boot, iter int) int64
}

const (
	fakeIters    = 10
	fakePlanned  = 5
	fakeMaxBoots = 15
)

var fakeScenarios = []string{"netns", "ipcns"}

// steady: about 1 ms, boot medians within 0.5% of each other.
func steady(boot, iter int) int64 { return 1_000_000 + int64(boot%5)*1000 + int64(iter) }

// twice: steady, twice as slow.
func twice(boot, iter int) int64 { return 2 * steady(boot, iter) }

// scattered: boot medians of 1, 2, 3 and 4 ms in turn: no verdict either way.
func scattered(boot, iter int) int64 { return int64(boot%4+1)*1_000_000 + int64(boot)*10 + int64(iter) }

func fakeKernels() []fakeKernel {
	return []fakeKernel{
		// Inside ±5% of its baseline at once: same, nothing added.
		{name: "same", baseBoots: 20, base: steady, run: steady},
		// Twice as slow as a 4-boot baseline: no rank test over 4 and 5
		// boots can reach the adaptive level, so boots are added until
		// one can; then netns is regressed (ipcns stays the same).
		{name: "slower", baseBoots: 4, base: steady, run: twice},
		// Never decided: boots up to the maximum.
		{name: "noisy", baseBoots: 20, base: scattered, run: scattered},
		// No baseline: not compared, nothing added.
		{name: "nobase", run: steady},
	}
}

// wall is a sample of the run: only netns of the "slower" kernel is slower.
func (k fakeKernel) wall(scenario string, boot, iter int) int64 {
	if k.name == "slower" && scenario != "netns" {
		return steady(boot, iter)
	}
	return k.run(boot, iter)
}

func fakeBaseline(k fakeKernel) *results.File {
	plan := results.Plan{Plan: plan.Plan{Scenarios: fakeScenarios, Boots: k.baseBoots, Iterations: fakeIters}}
	f := &results.File{Schema: results.Schema, Kernel: results.Kernel{Name: k.name, SHA256: "base"}, Accel: qemu.AccelTCG, Plan: plan, Complete: true}
	samples := map[int]map[string][]results.Sample{}
	for b := 0; b < k.baseBoots; b++ {
		f.Boots = append(f.Boots, results.Boot{Index: b, Status: results.StatusOK})
		samples[b] = map[string][]results.Sample{}
		for _, s := range fakeScenarios {
			for i := 0; i < fakeIters; i++ {
				samples[b][s] = append(samples[b][s], results.Sample{Boot: b, Iter: i, WallNS: k.base(b, i), OpNS: 1})
			}
		}
	}
	f.Rebuild(samples)
	return f
}

// fakeLab runs fake boots and counts them per kernel and boot.
type fakeLab struct {
	mu     sync.Mutex
	byName map[string]fakeKernel
	calls  map[Unit]int
	// interrupt, when set, is called before each boot; returning true
	// makes that boot end as Ctrl-C would.
	interrupt func(u Unit) bool
}

func newFakeLab() *fakeLab {
	l := &fakeLab{byName: map[string]fakeKernel{}, calls: map[Unit]int{}}
	for _, k := range fakeKernels() {
		l.byName[k.name] = k
	}
	return l
}

func (l *fakeLab) boot(ctx context.Context, vm qemu.Options, index int, _ Deadlines, _ func(string)) *bootOutcome {
	k := l.byName[filepath.Base(vm.Kernel)]
	u := Unit{Kernel: k.name, Boot: index}
	l.mu.Lock()
	l.calls[u]++
	l.mu.Unlock()
	out := &bootOutcome{samples: map[string][]results.Sample{}}
	out.rec = results.Boot{Index: index, ConsoleLog: vm.ConsoleLog, Release: "6.1.0-fake"}
	if ctx.Err() != nil || (l.interrupt != nil && l.interrupt(u)) {
		out.err = context.Canceled
		return out.finish(time.Now())
	}
	for _, s := range fakeScenarios {
		for i := 0; i < fakeIters; i++ {
			out.samples[s] = append(out.samples[s], results.Sample{Boot: index, Iter: i, WallNS: k.wall(s, index, i), OpNS: 1})
		}
		out.started = append(out.started, s)
	}
	out.done = true
	return out.finish(time.Now())
}

func (l *fakeLab) options(t *testing.T, out string, progress *bytes.Buffer) Options {
	var targets []Target
	baselines := map[string]*results.File{}
	for _, k := range fakeKernels() {
		targets = append(targets, Target{
			Kernel: kernels.Kernel{Name: k.name, Version: "6.1"},
			Image:  &kernels.Image{SHA256: "sha-" + k.name, Vmlinux: "/fake/" + k.name},
		})
		if k.baseBoots > 0 {
			baselines[k.name] = fakeBaseline(k)
		}
	}
	co := compare.DefaultOptions()
	co.Rounds = 500
	return Options{
		Targets: targets, Plan: plan.Plan{Scenarios: fakeScenarios, Boots: fakePlanned, Iterations: fakeIters},
		Accel: qemu.AccelTCG, CPUs: 2, MemoryMB: 512, OutDir: out, Progress: progress, Jobs: 2,
		Adaptive: &Adaptive{Baselines: baselines, MaxBoots: fakeMaxBoots, Compare: co},
		boot:     l.boot,
	}
}

// slowerBoots is where the "slower" kernel is decided: the first boot count
// at which complete separation from its 4 baseline boots reaches the
// adaptive level.
func slowerBoots(t *testing.T, o Options) int {
	alpha := o.Adaptive.Rule(o.Boots).Alpha
	n := o.Boots
	for stats.MinExactP(4, n) > alpha {
		n++
	}
	require.Less(t, n, fakeMaxBoots, "the test needs the slower kernel decided before the maximum")
	return n
}

func TestAdaptiveAddsBootsWhileUnknown(t *testing.T) {
	lab := newFakeLab()
	var progress bytes.Buffer
	o := lab.options(t, t.TempDir(), &progress)
	files, err := Run(context.Background(), o)
	require.NoError(t, err)
	t.Logf("progress:\n%s", progress.String())

	report, none := Verdicts(files, o.Adaptive.Baselines, o.Adaptive.Rule(o.Boots))
	verdicts := map[string]stats.Verdict{}
	for _, r := range report.Rows {
		verdicts[r.Kernel+" "+r.Scenario] = r.Verdict
	}
	assert.Equal(t, []string{"nobase"}, none)

	tests := []struct {
		kernel      string
		boots       int
		netns, ipcs stats.Verdict
	}{
		{"same", fakePlanned, stats.Same, stats.Same},
		{"slower", slowerBoots(t, o), stats.Regressed, stats.Same},
		{"noisy", fakeMaxBoots, stats.Unknown, stats.Unknown},
		{"nobase", fakePlanned, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.kernel, func(t *testing.T) {
			f, err := results.Read(filepath.Join(o.OutDir, tt.kernel+".json"))
			require.NoError(t, err)
			assert.True(t, f.Complete)
			assert.Len(t, f.Boots, tt.boots, "boots in the file")
			assert.Equal(t, tt.boots-fakePlanned, f.Plan.AddedBoots, "added boots in the plan")
			assert.Equal(t, fakePlanned, f.Plan.Boots)
			assert.Equal(t, fakeMaxBoots, f.Plan.MaxBoots)
			assert.Len(t, f.Scenarios["netns"].Samples, tt.boots*fakeIters)
			for b := 0; b < tt.boots; b++ {
				assert.Equal(t, 1, lab.calls[Unit{tt.kernel, b}], "boot %d ran once", b)
			}
			assert.Zero(t, lab.calls[Unit{tt.kernel, tt.boots}], "no boot beyond")
			assert.Equal(t, tt.netns, verdicts[tt.kernel+" netns"])
			assert.Equal(t, tt.ipcs, verdicts[tt.kernel+" ipcns"])
		})
	}
	p := progress.String()
	assert.Contains(t, p, "noisy: 2 scenarios unknown after 5 boots (")
	assert.Contains(t, p, "boot 6 of at most 15")
	assert.Contains(t, p, "noisy: 2 scenarios still unknown after 15 boots, the most allowed")
	assert.Contains(t, p, "same: every scenario decided after 5 boots")
	assert.Contains(t, p, "nobase: no baseline, not compared")
	assert.NotContains(t, p, "same: 1 scenario unknown")
}

// TestAdaptiveResume interrupts an adaptive run in its added boots and
// finishes it with Resume: the added boots are in the file before they
// run, so the interrupted one runs again, the good ones do not, and the
// run goes on adding boots where it stopped.
func TestAdaptiveResume(t *testing.T) {
	lab := newFakeLab()
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := Unit{Kernel: "noisy", Boot: 8}
	lab.interrupt = func(u Unit) bool {
		if u == stop {
			cancel()
			return true
		}
		return false
	}
	var progress bytes.Buffer
	o := lab.options(t, out, &progress)
	_, err := Run(ctx, o)
	require.ErrorIs(t, err, context.Canceled)

	f, err := results.Read(filepath.Join(out, "noisy.json"))
	require.NoError(t, err)
	assert.False(t, f.Complete)
	assert.Equal(t, stop.Boot+1-fakePlanned, f.Plan.AddedBoots, "the interrupted boot is in the plan")
	var interrupted []int
	for _, b := range f.Boots {
		if b.Status != results.StatusOK {
			interrupted = append(interrupted, b.Index)
		}
	}
	assert.Contains(t, interrupted, stop.Boot)
	// Boots that ran to the end before the interruption, by any kernel.
	good := map[Unit]bool{}
	for _, k := range fakeKernels() {
		f, err := results.Read(filepath.Join(out, k.name+".json"))
		require.NoError(t, err)
		for _, b := range f.Boots {
			good[Unit{k.name, b.Index}] = b.Status == results.StatusOK
		}
	}

	// A different maximum is a different plan.
	other := lab.options(t, out, &bytes.Buffer{})
	other.Resume, other.Adaptive.MaxBoots = true, 20
	_, err = Run(context.Background(), other)
	assert.ErrorContains(t, err, "at most 20")

	lab.interrupt = nil
	before := map[Unit]int{}
	for u, n := range lab.calls {
		before[u] = n
	}
	progress.Reset()
	o.Resume = true
	_, err = Run(context.Background(), o)
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "resume: ")

	for _, tt := range []struct {
		kernel string
		boots  int
	}{
		{"same", fakePlanned}, {"slower", slowerBoots(t, o)}, {"noisy", fakeMaxBoots}, {"nobase", fakePlanned},
	} {
		f, err := results.Read(filepath.Join(out, tt.kernel+".json"))
		require.NoError(t, err)
		assert.True(t, f.Complete, tt.kernel)
		require.Len(t, f.Boots, tt.boots, tt.kernel)
		for _, b := range f.Boots {
			assert.Equal(t, results.StatusOK, b.Status, "%s boot %d", tt.kernel, b.Index)
		}
		assert.Equal(t, tt.boots-fakePlanned, f.Plan.AddedBoots, tt.kernel)
		for b := 0; b < tt.boots; b++ {
			u := Unit{tt.kernel, b}
			switch {
			case good[u]:
				assert.Equal(t, before[u], lab.calls[u], "%v was good: not run again", u)
			case before[u] > 0:
				assert.Equal(t, before[u]+1, lab.calls[u], "%v was interrupted: it runs again, once", u)
			default:
				assert.Equal(t, 1, lab.calls[u], "%v runs once", u)
			}
		}
	}
}

func TestAdaptiveRefusals(t *testing.T) {
	lab := newFakeLab()
	o := lab.options(t, t.TempDir(), &bytes.Buffer{})
	o.Shard = Shard{I: 1, N: 2}
	_, err := Run(context.Background(), o)
	assert.ErrorContains(t, err, "shard")

	o = lab.options(t, t.TempDir(), &bytes.Buffer{})
	o.Adaptive.MaxBoots = 3
	_, err = Run(context.Background(), o)
	assert.ErrorContains(t, err, "fewer than the 5 planned")
}

func TestAdaptiveRuleLooksOnce(t *testing.T) {
	a := &Adaptive{MaxBoots: 5, Compare: compare.DefaultOptions()}
	assert.Equal(t, 0.01, a.Rule(5).Alpha, "no added boots: the plain rule")
	a.MaxBoots = 15
	assert.Less(t, a.Rule(5).Alpha, 0.002)
	assert.True(t, strings.HasPrefix(planBoots(results.Plan{Plan: plan.Plan{Boots: 5, MaxBoots: 15}}), "5 boots (adaptive"))
}
