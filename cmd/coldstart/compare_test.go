package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/machine"
	"coldstart/harness/results"
	"coldstart/internal/golden"
	"coldstart/plan"
)

// writeRun writes one kernel's result file with boots × 20 samples of
// netns and ipcns; scale multiplies netns.
func writeRun(t *testing.T, dir string, seed uint64, boots int, scale float64, mutate func(*results.File)) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	rng := rand.New(rand.NewPCG(seed, 1))
	f := &results.File{Schema: results.Schema, Accel: "tcg", Complete: true,
		Machine: &machine.Fingerprint{CPUModel: "AMD EPYC 7763 64-Core Processor", HostCPUs: 2, HostKernel: "6.1.0-41-amd64",
			QEMU: "QEMU emulator version 7.2.22", Accel: "tcg", VCPUs: 2, MemoryMB: 1024},
		Kernel:    results.Kernel{Name: "debian-6.1-cloud", Version: "6.1.192"},
		Plan:      results.Plan{Plan: plan.Plan{Scenarios: []string{"netns", "ipcns"}, Boots: boots, Iterations: 20}},
		Scenarios: map[string]*results.Scenario{}}
	for b := 0; b < boots; b++ {
		f.Boots = append(f.Boots, results.Boot{Index: b, Status: "ok"})
	}
	for _, n := range f.Plan.Scenarios {
		s := &results.Scenario{Status: results.StatusOK}
		for b := 0; b < boots; b++ {
			level := 5e6 * math.Exp(0.03*rng.NormFloat64())
			if n == "netns" {
				level *= scale
			}
			for i := 0; i < 20; i++ {
				s.Samples = append(s.Samples, results.Sample{Boot: b, Iter: i, WallNS: int64(level * math.Exp(0.2*rng.NormFloat64()))})
			}
		}
		f.Scenarios[n] = s
	}
	if mutate != nil {
		mutate(f)
	}
	p := filepath.Join(dir, f.Kernel.Name+".json")
	require.NoError(t, results.Write(p, f))
	return p
}

func TestCompareExitCodes(t *testing.T) {
	dir := t.TempDir()
	base := writeRun(t, filepath.Join(dir, "base"), 1, 8, 1, nil)
	same := writeRun(t, filepath.Join(dir, "same"), 2, 8, 1, nil)
	slow := writeRun(t, filepath.Join(dir, "slow"), 3, 8, 1.3, nil)

	stdout, stderr, code := runCLI(t, "compare", base, same)
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "netns")
	assert.NotContains(t, stdout, "REGRESSED")

	stdout, stderr, code = runCLI(t, "compare", filepath.Join(dir, "base"), filepath.Join(dir, "slow"), "--format", "markdown")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, stdout, "**regressed**")
	assert.Contains(t, stderr, "regressed: netns on debian-6.1-cloud")

	out := filepath.Join(dir, "report.xml")
	_, stderr, code = runCLI(t, "compare", base, slow, "--format", "junit", "--out", out)
	assert.Equal(t, exitFailed, code)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(b), `<failure message="regressed`)
	assert.Contains(t, stderr, "1 regressed")

	// A 30% step with a 40% threshold is no regression.
	_, stderr, code = runCLI(t, "compare", base, slow, "--scenario-threshold", "netns=40%")
	assert.Equal(t, exitOK, code, stderr)
}

func TestCompareBadInputExit2(t *testing.T) {
	dir := t.TempDir()
	base := writeRun(t, filepath.Join(dir, "base"), 1, 5, 1, nil)
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"schema": 1, "kernel": `), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"one argument", []string{"compare", base}, "BASE and NEW"},
		{"broken file", []string{"compare", base, bad}, bad},
		{"missing file", []string{"compare", base, filepath.Join(dir, "nope.json")}, "nope.json"},
		{"bad threshold", []string{"compare", base, base, "--threshold", "lots"}, "--threshold"},
		{"bad format", []string{"compare", base, base, "--format", "yaml"}, "--format"},
		{"bad metric", []string{"compare", base, base, "--metric", "cpu"}, "--metric"},
		{"baseline without update", []string{"baseline"}, "update"},
		{"report without html", []string{"report", dir}, "--html"},
		{"history without dir", []string{"history"}, "DIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.args...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

func TestBaselineUpdate(t *testing.T) {
	dir := t.TempDir()
	bdir := filepath.Join(dir, "baselines")
	good := filepath.Join(dir, "good")
	writeRun(t, good, 1, 6, 1, nil)
	stdout, stderr, code := runCLI(t, "baseline", "update", good, "--dir", bdir)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, filepath.Join(bdir, "debian-6.1-cloud.json"))
	assert.Contains(t, stdout, "fewest usable boots of a scenario here is 6", "a 6-boot baseline gets the note on its power")
	// What comparisons against it can find, per scenario.
	golden.Check(t, "baseline-power.txt", []byte(strings.ReplaceAll(stdout, dir, "$DIR")))
	f, err := results.Read(filepath.Join(bdir, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	assert.Len(t, f.Scenarios["netns"].Samples, 6*20)

	// Compare against the baselines directory.
	_, stderr, code = runCLI(t, "compare", bdir, good)
	assert.Equal(t, exitOK, code, stderr)

	for _, tc := range []struct {
		name   string
		boots  int
		mutate func(*results.File)
		want   string
	}{
		{"failed scenario", 6, func(f *results.File) { f.Scenarios["ipcns"].Status = results.StatusFailed }, "ipcns failed"},
		{"incomplete", 6, func(f *results.File) { f.Complete = false }, "incomplete"},
		{"too few boots", 3, nil, "needs 5"},
		{"coarse boots", 6, func(f *results.File) { f.Boots[0].ClockCoarse = true; f.Boots[1].ClockCoarse = true }, "coarse clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := filepath.Join(t.TempDir(), "run")
			writeRun(t, run, 2, tc.boots, 1, tc.mutate)
			before, _ := os.ReadFile(filepath.Join(bdir, "debian-6.1-cloud.json"))
			_, stderr, code := runCLI(t, "baseline", "update", run, "--dir", bdir)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr, tc.want)
			after, _ := os.ReadFile(filepath.Join(bdir, "debian-6.1-cloud.json"))
			assert.Equal(t, before, after, "a refused run leaves the baseline alone")
		})
	}
}

func TestReportAndHistory(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "runs", "20260101T000000Z")
	writeRun(t, run, 1, 5, 1, nil)
	page := filepath.Join(dir, "report.html")
	stdout, stderr, code := runCLI(t, "report", run, "--html", page, "--baselines", "none")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, page)
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.Contains(t, string(b), `<svg class="chart"`)

	// Fourteen nightly runs, netns 40% slower from the ninth on: at α = 0.01
	// a permutation test needs about a dozen runs to name a step.
	for i := 1; i < 14; i++ {
		scale := 1.0
		if i >= 8 {
			scale = 1.4
		}
		writeRun(t, filepath.Join(dir, "runs", fmt.Sprintf("20260101T0000%02dZ", i)), uint64(i+1), 5, scale, nil)
	}
	stdout, stderr, code = runCLI(t, "history", filepath.Join(dir, "runs"))
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "20260101T000008Z")
	assert.Contains(t, stdout, "netns")
	assert.NotContains(t, stdout, "ipcns")
}

// A scenario that ran in the base and fails in the new run is a
// regression (exit 1), whatever the other rows say; one that failed in the
// base leaves nothing to compare (exit 2).
func TestCompareFailedScenario(t *testing.T) {
	dir := t.TempDir()
	base := writeRun(t, filepath.Join(dir, "base"), 1, 6, 1, nil)
	fail := func(f *results.File) {
		f.Scenarios["ipcns"].Status = results.StatusFailed
		f.Scenarios["ipcns"].Reason = "boot 2: guest kernel panicked"
	}
	same := writeRun(t, filepath.Join(dir, "same"), 2, 6, 1, fail)
	stdout, stderr, code := runCLI(t, "compare", base, same)
	assert.Equal(t, exitFailed, code, stdout)
	assert.Contains(t, stdout, "REGRESSED: ipcns on debian-6.1-cloud: ran in the base, fails in the new run: boot 2: guest kernel panicked")
	assert.Contains(t, stderr, "regressed: ipcns on debian-6.1-cloud: ran in the base, fails in the new run")

	stdout, stderr, code = runCLI(t, "compare", same, base)
	assert.Equal(t, exitUsage, code, stdout)
	assert.Contains(t, stderr, "ipcns on debian-6.1-cloud: failed in the base, so nothing to compare with")
}

// TestCompareGateExitCodes runs every gate case of harness/compare
// (its testdata/gate/cases.json, on the result files beside it) through
// the command, checking the exit status and that the report and the
// error name what failed the gate.
func TestCompareGateExitCodes(t *testing.T) {
	dir := filepath.Join("..", "..", "harness", "compare", "testdata", "gate")
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	require.NoError(t, err)
	var cases []struct {
		Name    string `json:"name"`
		Base    string `json:"base"`
		New     string `json:"new"`
		AnyHost bool   `json:"any_host"`
		Exit    int    `json:"exit"`
		Says    string `json:"says"`
	}
	require.NoError(t, json.Unmarshal(b, &cases))
	require.NotEmpty(t, cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			args := []string{"compare", filepath.Join(dir, tc.Base), filepath.Join(dir, tc.New)}
			if tc.AnyHost {
				args = append(args, "--any-host")
			}
			stdout, stderr, code := runCLI(t, args...)
			assert.Equal(t, tc.Exit, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stdout, tc.Says)
			if tc.Exit != exitOK {
				assert.Contains(t, stderr, tc.Says)
			}
		})
	}
}

// coldstart machine prints a run's fingerprint and its class's key, which
// the nightly workflow keys its baseline cache by.
func TestMachineCommand(t *testing.T) {
	dir := filepath.Join("..", "..", "harness", "compare", "testdata", "gate")
	stdout, stderr, code := runCLI(t, "machine", filepath.Join(dir, "base"), "--key")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "tcg-2cpu-1024m-amd-epyc-7763-64-core-processor\n", stdout)

	stdout, _, code = runCLI(t, "machine", filepath.Join(dir, "base", "debian-6.1-cloud.json"))
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "debian-6.1-cloud: AMD EPYC 7763 64-Core Processor, tcg, 2 vCPUs, 1024 MiB; 2 host CPUs, host kernel 6.1.0-41-amd64, QEMU emulator version 7.2.22")

	_, stderr, code = runCLI(t, "machine", filepath.Join(dir, "no-fingerprint"), "--key")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "records no machine fingerprint")

	stdout, _, code = runCLI(t, "machine", "--key", "--accel", "tcg", "--cpus", "2", "--memory", "1024")
	require.Equal(t, exitOK, code)
	assert.Regexp(t, `^tcg-2cpu-1024m-[a-z0-9-]+\n$`, stdout)
}
