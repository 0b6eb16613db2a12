package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/results"
	"coldstart/stats"
)

// --clock virtual is refused, before anything is fetched or booted,
// where it cannot give a real answer.
func TestMatrixClockRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--clock", "virtual", "--kernels", "debian-5.10-cloud"}, "debian-5.10-cloud (5.10.223)"},
		{[]string{"--clock", "virtual", "--cpus", "2", "--kernels", "debian-6.1-cloud"}, "1 vCPU (got 2)"},
		{[]string{"--clock", "virtual", "--accel", "kvm", "--kernels", "debian-6.1-cloud"}, "does not go with KVM"},
		{[]string{"--clock", "sundial"}, `want wall or virtual`},
	} {
		_, stderr, code := runCLI(t, append([]string{"matrix", "--out", t.TempDir()}, tc.args...)...)
		assert.Equal(t, exitUsage, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want, tc.args)
	}
}

// TestMatrixVirtualClock boots the default kernel twice on the virtual
// clock: each boot's median of a kernel primitive is the same (to the
// nanosecond when measured; the test allows 0.1%, where on the wall clock
// boots differ by 11-39%), and the file says which clock it was.
func TestMatrixVirtualClock(t *testing.T) {
	requireVM(t)
	out := t.TempDir()
	_, stderr, code := runCLI(t, "matrix", "--kernels", "debian-6.1-cloud", "--clock", "virtual", "--boots", "2",
		"--scenarios", "utsns,ipcns", "--iterations", "9", "--warmups", "1", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	f, err := results.Read(filepath.Join(out, "debian-6.1-cloud.json"))
	require.NoError(t, err)
	assert.Equal(t, "virtual", f.Plan.Clock)
	assert.Contains(t, f.Plan.ClockParams, "-icount")
	assert.Equal(t, 1, f.Plan.CPUs)
	for _, name := range []string{"utsns", "ipcns"} {
		by := f.Scenarios[name].ByBoot(results.Wall)
		require.Len(t, by, 2, name)
		a, b := stats.Median(by[0]), stats.Median(by[1])
		assert.Less(t, math.Abs(math.Log(a/b)), 0.001, "%s: per-boot medians %.0f and %.0f ns", name, a, b)
	}
}
