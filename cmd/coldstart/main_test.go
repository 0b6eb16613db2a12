package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/results"
	"coldstart/internal/testvm"
	"coldstart/plan"
	"coldstart/stats"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	ctx := context.Background()
	err := run(ctx, &o, &e, args)
	code = exitCode(ctx, &e, err)
	return o.String(), e.String(), code
}

func TestUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown scenario", []string{"matrix", "--scenarios", "netns,bogus"}, "bogus"},
		{"unknown kernel", []string{"matrix", "--kernels", "no-such-kernel", "--out", "/tmp/coldstart-test-unused"}, "no-such-kernel"},
		{"bad boots", []string{"matrix", "--boots", "0"}, "--boots"},
		{"bad accel", []string{"matrix", "--accel", "xen"}, "--accel"},
		{"bad tcg thread", []string{"matrix", "--tcg-thread", "many"}, "--tcg-thread"},
		{"harness words in append", []string{"matrix", "--append", "coldstart.iterations=3"}, "coldstart.*"},
		{"stray argument", []string{"matrix", "extra"}, "no arguments"},
		{"unknown flag", []string{"matrix", "--frob"}, "frob"},
		{"missing kernel file", []string{"matrix", "--kernel-file", "/nonexistent/bzImage", "--out", "/tmp/coldstart-test-unused"}, "/nonexistent/bzImage"},
		{"kernels without subcommand", []string{"kernels"}, "subcommand"},
		{"adaptive in a shard", []string{"matrix", "--adaptive", "--shard", "1/2"}, "--shard"},
		{"max boots below boots", []string{"matrix", "--adaptive", "--boots", "5", "--max-boots", "4"}, "--max-boots 4"},
		{"bad threshold", []string{"matrix", "--adaptive", "--threshold", "150%"}, "--threshold"},
		{"missing baselines", []string{"matrix", "--baselines", "/nonexistent/baselines", "--kernels", "debian-6.1-cloud", "--out", "/tmp/coldstart-test-unused"}, "/nonexistent/baselines"},
		// --baselines makes the run adaptive: its --max-boots is checked.
		{"baselines make it adaptive", []string{"matrix", "--baselines", "/nonexistent/baselines", "--boots", "5", "--max-boots", "2", "--kernels", "debian-6.1-cloud", "--out", "/tmp/coldstart-test-unused"}, "--max-boots 2 is fewer than --boots 5"},
		{"adaptive=false keeps the planned boots", []string{"matrix", "--baselines", "/nonexistent/baselines", "--adaptive=false", "--boots", "5", "--max-boots", "2", "--kernels", "debian-6.1-cloud", "--out", "/tmp/coldstart-test-unused"}, "/nonexistent/baselines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tt.args...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

// TestResumeKeepsAdaptive checks that --resume takes --adaptive and
// --max-boots from the run's plan and refuses flags that contradict it,
// all before any boot.
func TestResumeKeepsAdaptive(t *testing.T) {
	write := func(plan results.Plan) string {
		dir := t.TempDir()
		f := &results.File{Schema: results.Schema, Kernel: results.Kernel{Name: "debian-6.1-cloud"}, Plan: plan}
		require.NoError(t, results.Write(filepath.Join(dir, "debian-6.1-cloud.json"), f))
		return dir
	}
	adaptive := write(results.Plan{Plan: plan.Plan{Scenarios: []string{"utsns"}, Boots: 5, MaxBoots: 15, AddedBoots: 3, Iterations: 3}, CPUs: 2, MemoryMB: 512})
	plain := write(results.Plan{Plan: plan.Plan{Scenarios: []string{"utsns"}, Boots: 5, Iterations: 3}, CPUs: 2, MemoryMB: 512})
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"adaptive turned off", []string{"--resume", adaptive, "--adaptive=false"}, "drop --adaptive=false"},
		{"other maximum", []string{"--resume", adaptive, "--max-boots", "9"}, "--max-boots 15"},
		{"adaptive turned on", []string{"--resume", plain, "--adaptive"}, "not adaptive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, append([]string{"matrix"}, tt.args...)...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

func TestUnwritableOutputFailsBeforeBooting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, stderr, code := runCLI(t, "matrix", "--out", filepath.Join(file, "run"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--out")
}

func TestKernelsList(t *testing.T) {
	stdout, stderr, code := runCLI(t, "kernels", "list")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "debian-6.1-cloud")
}

func TestKernelsCheckRejectsNonKernel(t *testing.T) {
	f := filepath.Join(t.TempDir(), "notakernel")
	require.NoError(t, os.WriteFile(f, []byte(strings.Repeat("hello\n", 1000)), 0o644))
	_, stderr, code := runCLI(t, "kernels", "check", f)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "notakernel")
}

// requireVM skips a test that needs QEMU where it cannot be had; in CI,
// where `make setup` installs it, its absence is a failure.
func requireVM(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("qemu-system-x86_64 not found in CI (make setup should install it): %v", err)
		}
		t.Skipf("qemu-system-x86_64 not found (run make setup): %v", err)
	}
}

// TestMatrixBootsDefaultKernel boots the real default kernel in QEMU and
// checks that every kernel primitive returned the requested number of
// plausible samples.
func TestMatrixBootsDefaultKernel(t *testing.T) {
	requireVM(t)
	out := t.TempDir()
	const iterations = 10
	stdout, stderr, code := runCLI(t, "matrix", "--kernels", "debian-6.1-cloud", "--boots", "1",
		"--scenarios", strings.Join(plan.Primitives(), ","),
		"--iterations", "10", "--warmups", "2", "--out", out)
	t.Logf("stderr:\n%s", stderr)
	t.Logf("stdout:\n%s", stdout)
	require.Equal(t, exitOK, code)

	f, err := results.Read(filepath.Join(out, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	assert.True(t, f.Complete)
	assert.Contains(t, []string{"tcg", "kvm"}, f.Accel)
	assert.NotEmpty(t, f.Kernel.Release)
	assert.Len(t, f.Kernel.SHA256, 64)
	require.Len(t, f.Boots, 1)
	assert.Equal(t, results.StatusOK, f.Boots[0].Status)
	assert.Greater(t, f.Boots[0].HelloMS, 0.0)
	assert.FileExists(t, filepath.Join(out, "debian-6.1-cloud", "boot-0.console.log"))
	for _, name := range plan.Primitives() {
		got, ok := f.Scenarios[name]
		if !assert.True(t, ok, "scenario %s missing", name) {
			continue
		}
		// Debian's kernels have every namespace and mqueue.
		assert.Equal(t, results.StatusOK, got.Status, "%s: %s", name, got.Reason)
		assert.Len(t, got.Samples, iterations, name)
		for _, smp := range got.Samples {
			assert.Equal(t, 0, smp.Boot)
			assert.Greater(t, smp.OpNS, int64(0), "%s op", name)
			assert.LessOrEqual(t, smp.OpNS, smp.WallNS, "%s op <= wall", name)
			assert.Less(t, smp.WallNS, int64(5e9), "%s wall under 5 s", name)
		}
		assert.Contains(t, stdout, name)
		// The agent waited for an idle guest and timed its calibration
		// loop before and after the scenario.
		if cal := f.Boots[0].Calibration[name]; assert.NotNil(t, cal, "%s calibration", name) {
			assert.Len(t, cal.LoopNS, 10, name)
			assert.Len(t, cal.SettleNS, 2, name)
			for _, ns := range cal.LoopNS {
				assert.Greater(t, ns, int64(100_000), "%s: a million steps take more than 0.1 ms", name)
			}
		}
	}
	assert.Contains(t, stdout, "median")
}

func TestMatrixExactSamplesPerBoot(t *testing.T) {
	requireVM(t)
	out := t.TempDir()
	_, stderr, code := runCLI(t, "matrix", "--kernels", "debian-6.1-cloud", "--scenarios", "netns,ipcns,mqueue", "--boots", "2", "--iterations", "7",
		"--warmups", "1", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	f, err := results.Read(filepath.Join(out, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	require.Len(t, f.Boots, 2)
	require.Len(t, f.Scenarios, 3)
	for name, s := range f.Scenarios {
		perBoot := map[int]int{}
		for _, smp := range s.Samples {
			perBoot[smp.Boot]++
		}
		assert.Equal(t, map[int]int{0: 7, 1: 7}, perBoot, name)
	}
}

// TestShardMergeResume runs a 2-boot matrix as two shards, merges them, and
// finishes one shard's directory with --resume.
func TestShardMergeResume(t *testing.T) {
	requireVM(t)
	a, b, merged := t.TempDir(), t.TempDir(), t.TempDir()
	common := []string{"matrix", "--kernels", "debian-6.1-cloud", "--scenarios", "utsns,ipcns", "--boots", "2", "--iterations", "3", "--warmups", "0"}
	for i, dir := range []string{a, b} {
		_, stderr, code := runCLI(t, append(common, "--shard", fmt.Sprintf("%d/2", i+1), "--out", dir)...)
		require.Equal(t, exitOK, code, stderr)
	}
	fa, err := results.Read(filepath.Join(a, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	assert.Equal(t, "1/2", fa.Shard)
	require.Len(t, fa.Boots, 1)
	assert.Equal(t, 0, fa.Boots[0].Index)

	stdout, stderr, code := runCLI(t, "merge", merged, a, b)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "2 boots, complete")
	fm, err := results.Read(filepath.Join(merged, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	assert.True(t, fm.Complete)
	assert.Len(t, fm.Scenarios["utsns"].Samples, 6)

	// Resume shard 1's directory: only boot 1 runs; the plan comes from the run.
	_, stderr, code = runCLI(t, "matrix", "--resume", a)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "resume: 1 boots to run")
	fr, err := results.Read(filepath.Join(a, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	assert.True(t, fr.Complete)
	assert.Empty(t, fr.Shard)
	require.Len(t, fr.Boots, 2)
	assert.Equal(t, fa.Boots[0].HelloMS, fr.Boots[0].HelloMS, "boot 0 was kept, not rerun")
	assert.Len(t, fr.Scenarios["ipcns"].Samples, 6)

	// A conflicting flag is refused.
	_, stderr, code = runCLI(t, "matrix", "--resume", a, "--iterations", "9")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--iterations")
}

// TestMatrixAdaptive boots the default kernel with --adaptive against the
// committed baseline: one planned boot, at most three. Three boots against
// the baseline's 20 can reach p ≤ 0.0019, and this run's 5 iterations
// without warm-ups on a host busy with the other tests are not the
// baseline's, so the verdict may be regressed (exit 1, named) as well as
// anything else; the boots it added are in the plan, and the verdict
// table is printed either way.
func TestMatrixAdaptive(t *testing.T) {
	requireVM(t)
	src, err := sourceDir()
	require.NoError(t, err)
	baselines := filepath.Join(src, "results", "baselines")
	require.FileExists(t, filepath.Join(baselines, "debian-6.1-cloud.json"))
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, "matrix", "--kernels", "debian-6.1-cloud", "--scenarios", "utsns", "--boots", "1",
		"--iterations", "5", "--warmups", "0", "--adaptive", "--max-boots", "3", "--baselines", baselines, "--out", out)
	t.Logf("stderr:\n%s", stderr)
	t.Logf("stdout:\n%s", stdout)
	require.Contains(t, []int{exitOK, exitFailed}, code, "0, or 1 for a regression")
	if code == exitFailed {
		assert.Contains(t, stderr, "regressed against the baselines in "+baselines+": utsns on debian-6.1-cloud")
	}
	f, err := results.Read(filepath.Join(out, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	assert.True(t, f.Complete)
	assert.Equal(t, 3, f.Plan.MaxBoots)
	assert.Equal(t, 1+f.Plan.AddedBoots, len(f.Boots))
	assert.LessOrEqual(t, len(f.Boots), 3)
	if f.Plan.AddedBoots > 0 {
		assert.Contains(t, stderr, "boot 2 of at most 3")
	}
	assert.Contains(t, stdout, "base "+baselines)
	assert.Contains(t, stdout, "utsns")
	assert.Contains(t, stdout, "adaptive: boots were added")
}

func TestParallelBoots(t *testing.T) {
	requireVM(t)
	out := t.TempDir()
	_, stderr, code := runCLI(t, "matrix", "--kernels", "debian-6.1-cloud", "--scenarios", "utsns", "--boots", "2", "--iterations", "3",
		"--warmups", "0", "--jobs", "2", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	f, err := results.Read(filepath.Join(out, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	assert.True(t, f.Complete)
	require.Len(t, f.Boots, 2)
	assert.Equal(t, []int{0, 1}, []int{f.Boots[0].Index, f.Boots[1].Index})
	assert.Len(t, f.Scenarios["utsns"].Samples, 6)
}

// TestBinaryExitCodes runs the real binary: exit codes are the contract
// with CI and git bisect, and main itself must not distort them.
func TestBinaryExitCodes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "coldstart")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"help"}, exitOK},
		{[]string{"frobnicate"}, exitUsage},
		{[]string{"matrix", "--scenarios", "bogus"}, exitUsage},
		{[]string{"merge", t.TempDir(), filepath.Join(t.TempDir(), "missing")}, exitUsage},
	}
	for _, tt := range tests {
		cmd := exec.Command(bin, tt.args...)
		err := cmd.Run()
		assert.Equal(t, tt.want, cmd.ProcessState.ExitCode(), "coldstart %v: %v", tt.args, err)
	}
}

// TestContainerScenarios boots the default kernel with every container and
// seccomp scenario: each returns samples, csrun with the default profile
// and no cache starts slower than without seccomp, and the cached run
// skipped compilation (its phase timings say so).
func TestContainerScenarios(t *testing.T) {
	requireVM(t)
	out := t.TempDir()
	// The isolation checks ride along: each runs the probe bundle, which
	// fails the scenario when the runtime leaks (guest/probe), so this is
	// also the in-guest test of masked paths, no_new_privs and pivot_root.
	names := append(append(plan.SeccompSteps(), plan.ContainerRuns()...), plan.IsolationChecks()...)
	const iterations = 5
	stdout, stderr, code := runCLI(t, "matrix", "--kernels", "debian-6.1-cloud", "--boots", "1",
		"--scenarios", strings.Join(names, ","), "--iterations", "5", "--warmups", "1", "--out", out)
	t.Logf("stdout:\n%s", stdout)
	require.Equal(t, exitOK, code, stderr)
	f, err := results.Read(filepath.Join(out, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	for _, n := range names {
		s := f.Scenarios[n]
		require.NotNil(t, s, n)
		require.Equal(t, results.StatusOK, s.Status, "%s: %s", n, s.Reason)
		require.Len(t, s.Samples, iterations, n)
		for _, x := range s.Samples {
			assert.Positive(t, x.OpNS, n)
			assert.LessOrEqual(t, x.OpNS, x.WallNS, n)
		}
	}
	none, def := f.Scenarios["oci-run/csrun/none"], f.Scenarios["oci-run/csrun/default"]
	// csrun's own start-up time (command start to exec of the container
	// process) leaves out the exec and teardown noise of a loaded host, and
	// the fastest of the runs is the one least disturbed by the host: with
	// five runs a side, medians of a loaded host crossed (260 vs 263 ms)
	// while the minima keep the profile's compile and load cost in sight.
	startup := func(s *results.Scenario) (min, med float64) {
		var v []float64
		for _, x := range s.Samples {
			v = append(v, float64(x.Phases["total_ns"]))
		}
		return stats.Quantile(v, 0), stats.Median(v)
	}
	noneMin, noneMed := startup(none)
	defMin, defMed := startup(def)
	assert.Greater(t, defMin, noneMin, "compiling the default profile must cost something")
	t.Logf("csrun start-up: none min %.1f / median %.1f ms, default min %.1f / median %.1f ms; wall medians %.1f ms, %.1f ms",
		noneMin/1e6, noneMed/1e6, defMin/1e6, defMed/1e6, stats.Median(none.Walls())/1e6, stats.Median(def.Walls())/1e6)
	for _, x := range def.Samples {
		assert.Equal(t, int64(0), x.Phases["seccomp_cache_hit"], "--no-seccomp-cache must compile")
		assert.Positive(t, x.Phases["seccomp_compile_ns"])
	}
	for _, x := range f.Scenarios["oci-run/csrun/cached"].Samples {
		assert.Equal(t, int64(1), x.Phases["seccomp_cache_hit"], "the cached run must hit (warm-up filled the cache)")
		assert.Zero(t, x.Phases["seccomp_compile_ns"], "a cache hit compiles nothing")
		assert.Positive(t, x.Phases["seccomp_cache_ns"])
	}
	for _, x := range none.Samples {
		assert.Zero(t, x.Phases["seccomp_compile_ns"]+x.Phases["seccomp_cache_ns"])
	}
	assert.Contains(t, stdout, "csrun cached/default")
}

// TestSIGINTStopsEverything interrupts the real binary in the middle of a
// boot and checks that it exits 130, keeps what was measured, marked
// incomplete, and leaves no QEMU behind. QEMU's command line names
// neither the run directory nor the initramfs (it gets them as
// /proc/self/fd/N), so the binary and everything it starts carry a tag in
// their environment (testvm.Tag), which finds them wherever they are
// reparented; the QEMU is found that way before the interrupt, so the
// check after it cannot pass by not seeing QEMU at all.
func TestSIGINTStopsEverything(t *testing.T) {
	requireVM(t)
	bin := filepath.Join(t.TempDir(), "coldstart")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	run := t.TempDir()
	tag := testvm.Tag(t)
	cmd := exec.Command(bin, "matrix", "--kernels", "debian-6.1-cloud", "--scenarios", "utsns", "--boots", "3",
		"--iterations", "2000", "--warmups", "0", "--out", run)
	cmd.Dir = "."
	cmd.Env = append(os.Environ(), tag)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	var before []testvm.Proc
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "boot 0: agent up") {
			before = testvm.QEMUs(testvm.Tagged("", tag))
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			break
		}
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	cmd.Wait()
	t.Logf("stderr:\n%s", log.String())
	require.NotEmpty(t, before, "no QEMU of this run found while it booted: the leftover check below would see none either")
	t.Logf("QEMU while booting: %v", before)
	assert.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode())
	f, err := results.Read(filepath.Join(run, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	assert.False(t, f.Complete)
	require.Len(t, f.Boots, 1)
	assert.Equal(t, "interrupted", f.Boots[0].Error)
	// QEMU is stopped in order, and killed with its parent (Pdeathsig)
	// if that fails; give its reaping a moment.
	for _, p := range testvm.Left(tag, 5*time.Second) {
		t.Errorf("still running after the interrupted run: %v", p)
	}
}

// TestFullDiskFailsBeforeBooting points --out at a tiny full filesystem.
func TestFullDiskFailsBeforeBooting(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tiny tmpfs")
	}
	dir := t.TempDir()
	require.NoError(t, syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k"))
	defer syscall.Unmount(dir, 0)
	_, stderr, code := runCLI(t, "matrix", "--kernels", "debian-6.1-cloud", "--out", filepath.Join(dir, "run"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "disk full")
}
