package explain_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/event"
	"coldstart/harness/explain"
	"coldstart/harness/kernels"
	"coldstart/harness/matrix"
	"coldstart/harness/qemu"
	"coldstart/harness/results"
	"coldstart/internal/testvm"
	"coldstart/plan"
)

// realKernels are the two Debian kernels the end-to-end test explains.
var realKernels = []string{"debian-5.10-cloud", testvm.DefaultKernel}

// TestExplainRealKernels boots two real Debian kernels with
// coldstart.trace=3, checks that every timed iteration ran untraced, and
// explains the netns difference between them. COLDSTART_EXPLAIN_RUN keeps
// the run directory there (and reuses it when it already holds results).
func TestExplainRealKernels(t *testing.T) {
	if os.Getenv("COLDSTART_LONG") == "" {
		t.Skip("boots two kernels and traces them under QEMU (5+ minutes under TCG on a busy host): set COLDSTART_LONG=1, or run make test-long")
	}
	env := testvm.Require(t)
	out := os.Getenv("COLDSTART_EXPLAIN_RUN")
	if out == "" {
		out = t.TempDir()
	}
	var files []*results.File
	for _, k := range realKernels {
		if f, err := results.Read(filepath.Join(out, k+".json")); err == nil && f.Complete {
			files = append(files, f)
		}
	}
	if len(files) != len(realKernels) {
		files = runTraced(t, env, out)
	}
	for _, f := range files {
		for _, name := range []string{"netns", "utsns"} {
			sc := f.Scenarios[name]
			require.NotNil(t, sc, "%s %s", f.Kernel.Name, name)
			require.Equal(t, results.StatusOK, sc.Status, "%s %s: %s", f.Kernel.Name, name, sc.Reason)
			trs := f.Traces(name)
			require.NotEmpty(t, trs, "%s %s has no trace", f.Kernel.Name, name)
			for _, tr := range trs {
				require.Empty(t, tr.Error, "%s %s", f.Kernel.Name, name)
				require.Empty(t, tr.Unsupported, "%s %s", f.Kernel.Name, name)
				assert.Equal(t, 3, tr.Iterations)
				assert.NotEmpty(t, tr.Paths)
				// Tracing was off during the timed iterations.
				require.Len(t, tr.Timed, 2, "%s %s", f.Kernel.Name, name)
				for _, st := range tr.Timed {
					assert.True(t, event.Untraced(st), "%s %s timed with %q", f.Kernel.Name, name, st)
				}
			}
		}
	}
	rep, err := explain.Explain(files[0], files[1], "netns")
	require.NoError(t, err)
	require.NotEmpty(t, rep.Rows)
	var text bytes.Buffer
	require.NoError(t, explain.WriteText(&text, rep, 25))
	t.Logf("\n%s", text.String())
	assert.Contains(t, text.String(), "__x64_sys_clone")
	var svg bytes.Buffer
	require.NoError(t, explain.WriteSVG(&svg, rep))
	assert.True(t, strings.HasPrefix(svg.String(), "<svg"))
	os.WriteFile(filepath.Join(out, "netns.explain.txt"), text.Bytes(), 0o644)
	os.WriteFile(filepath.Join(out, "netns.explain.svg"), svg.Bytes(), 0o644)
}

func runTraced(t *testing.T, env *testvm.Env, out string) []*results.File {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	all, err := kernels.Load(filepath.Join(env.Source, "kernels"))
	require.NoError(t, err)
	cache, err := kernels.DefaultCacheDir()
	require.NoError(t, err)
	var targets []matrix.Target
	for _, name := range realKernels {
		k, err := kernels.Lookup(all, name)
		require.NoError(t, err)
		im, err := (&kernels.Fetcher{CacheDir: cache}).Fetch(ctx, k)
		if err != nil {
			t.Skipf("kernel %s cannot be fetched: %v", name, err)
		}
		targets = append(targets, matrix.Target{Kernel: k, Image: im})
	}
	var progress bytes.Buffer
	files, err := matrix.Run(ctx, matrix.Options{
		Targets: targets, Initrd: env.Initrd, Plan: plan.Plan{Scenarios: []string{"netns", "utsns"}, Boots: 1, Iterations: 8, Warmups: 1},
		Accel: qemu.AccelTCG, CPUs: 2, MemoryMB: 1024,
		Append: []string{"coldstart.trace=3"}, OutDir: out, Progress: &progress, Jobs: 1,
	})
	t.Logf("matrix:\n%s", progress.String())
	require.NoError(t, err)
	return files
}
