package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/event"
	"coldstart/harness/results"
	"coldstart/internal/golden"
)

// writeTraced writes a run directory with one kernel whose netns trace
// spends clone ns in clone and setup ns in setup_net, per iteration.
func writeTraced(t *testing.T, dir, kernel string, clone, setup int64) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	tr := &results.Trace{Scenario: "netns", Iterations: 1, MaxDepth: 10,
		Timed: []string{"no tracefs", "current_tracer=nop tracing_on=0"},
		Paths: []event.TracePath{
			{Path: "__x64_sys_clone", Calls: 1, NS: clone, IterNS: []int64{clone}},
			{Path: "__x64_sys_clone;setup_net", Calls: 1, NS: setup, IterNS: []int64{setup}},
		}}
	f := &results.File{Schema: results.Schema, Kernel: results.Kernel{Name: kernel, Release: kernel},
		Scenarios: map[string]*results.Scenario{"netns": {Status: results.StatusOK}},
		Boots:     []results.Boot{{Index: 0, Status: results.StatusOK, Traces: map[string]*results.Trace{"netns": tr}}}}
	p := filepath.Join(dir, kernel+".json")
	require.NoError(t, results.Write(p, f))
	return p
}

func TestExplain(t *testing.T) {
	dir := t.TempDir()
	a := writeTraced(t, filepath.Join(dir, "a"), "k1", 5e6, 3e6)
	b := writeTraced(t, filepath.Join(dir, "b"), "k2", 9e6, 7e6)

	stdout, stderr, code := runCLI(t, "explain", a, b, "--scenario", "netns")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "own time grew most in __x64_sys_clone > setup_net: +4.00ms")
	assert.Contains(t, stdout, "tracing off while timing: yes / yes")

	// Run directories with one file each; markdown; --out.
	out := filepath.Join(dir, "x.md")
	_, stderr, code = runCLI(t, "explain", "--format", "markdown", filepath.Join(dir, "a"), filepath.Join(dir, "b"), "--scenario", "netns", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	md, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(md), "| +4.00ms | 3.00ms | 7.00ms |")

	stdout, stderr, code = runCLI(t, "explain", a, b, "--scenario", "netns", "--format", "svg")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "<svg")

	// A kernel without the tracer is unsupported, not a failure.
	f, err := results.Read(b)
	require.NoError(t, err)
	unsupportedTrace(f)
	c := filepath.Join(dir, "c.json")
	require.NoError(t, results.Write(c, f))
	stdout, stderr, code = runCLI(t, "explain", a, c, "--scenario", "netns")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "netns: unsupported: k2 (k2) needs CONFIG_FUNCTION_GRAPH_TRACER (no tracefs)\n", stdout)

	_, stderr, code = runCLI(t, "explain", a, b, "--scenario", "ipcns")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "coldstart.trace=N")
	_, _, code = runCLI(t, "explain", a, "--scenario", "netns")
	assert.Equal(t, exitUsage, code)
	_, stderr, code = runCLI(t, "explain", a, b)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--scenario")
}

// traceAll gives every boot of f a netns trace: three traced iterations
// spending clone ns in unshare and setup ns of it in setup_net.
func traceAll(f *results.File, clone, setup int64) {
	for i := range f.Boots {
		f.Boots[i].Traces = map[string]*results.Trace{"netns": {Scenario: "netns", Iterations: 3, MaxDepth: 8,
			Timed: []string{"current_tracer=nop tracing_on=0", "current_tracer=nop tracing_on=0"},
			Paths: []event.TracePath{
				{Path: "__x64_sys_unshare", Calls: 3, NS: 3 * clone, IterNS: []int64{clone, clone, clone}},
				{Path: "__x64_sys_unshare;copy_net_ns", Calls: 3, NS: 3 * (setup + 5e5), IterNS: []int64{setup + 5e5, setup + 5e5, setup + 5e5}},
				{Path: "__x64_sys_unshare;copy_net_ns;setup_net", Calls: 3, NS: 3 * setup, IterNS: []int64{setup, setup, setup}},
			}}}
	}
}

func unsupportedTrace(f *results.File) {
	for i := range f.Boots {
		f.Boots[i].Traces = map[string]*results.Trace{"netns": {Scenario: "netns", Unsupported: "needs CONFIG_FUNCTION_GRAPH_TRACER (no tracefs)"}}
	}
}

// TestCompareExplain: compare --explain puts where the time went after
// the verdicts, or one line saying why it cannot; netns is 30% slower in
// the new run, and 1.5 ms more of it is in setup_net.
func TestCompareExplain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		base, next func(*results.File)
		args       []string
		code       int
		golden     string
		want       []string
	}{
		{name: "traced text", base: func(f *results.File) { traceAll(f, 4e6, 2e6) }, next: func(f *results.File) { traceAll(f, 5.5e6, 3.5e6) },
			code: exitFailed, golden: "compare-explain.txt"},
		{name: "traced markdown", base: func(f *results.File) { traceAll(f, 4e6, 2e6) }, next: func(f *results.File) { traceAll(f, 5.5e6, 3.5e6) },
			args: []string{"--format", "markdown"}, code: exitFailed, golden: "compare-explain.md"},
		{name: "untraced", code: exitFailed, golden: "compare-explain-untraced.txt"},
		{name: "kernel without the tracer", base: func(f *results.File) { traceAll(f, 4e6, 2e6) }, next: unsupportedTrace, code: exitFailed,
			want: []string{"explain netns on debian-6.1-cloud (regressed +", "): unsupported: debian-6.1-cloud needs CONFIG_FUNCTION_GRAPH_TRACER (no tracefs)"}},
		{name: "traced html", base: func(f *results.File) { traceAll(f, 4e6, 2e6) }, next: func(f *results.File) { traceAll(f, 5.5e6, 3.5e6) },
			args: []string{"--format", "html"}, code: exitFailed, want: []string{`<svg class="icicle"`, "Where the kernel time went: netns on debian-6.1-cloud (regressed &#43;"}},
		{name: "untraced html", args: []string{"--format", "html"}, code: exitFailed,
			want: []string{"no kernel trace of the scenario in debian-6.1-cloud for netns: rerun coldstart matrix with --trace N"}},
		{name: "json", args: []string{"--format", "json"}, code: exitUsage, want: []string{"--explain adds to text, markdown and html reports, not json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base := writeRun(t, filepath.Join(dir, "base"), 1, 8, 1, tc.base)
			next := writeRun(t, filepath.Join(dir, "new"), 3, 8, 1.3, tc.next)
			stdout, stderr, code := runCLI(t, append([]string{"compare", base, next, "--explain"}, tc.args...)...)
			require.Equal(t, tc.code, code, stderr)
			out := strings.ReplaceAll(stdout+stderr, dir, "$DIR")
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			if tc.golden != "" {
				golden.Check(t, tc.golden, []byte(strings.ReplaceAll(stdout, dir, "$DIR")))
			}
		})
	}
	// Without --explain, a text report says nothing of traces.
	dir := t.TempDir()
	base := writeRun(t, filepath.Join(dir, "base"), 1, 8, 1, func(f *results.File) { traceAll(f, 4e6, 2e6) })
	next := writeRun(t, filepath.Join(dir, "new"), 3, 8, 1.3, func(f *results.File) { traceAll(f, 5.5e6, 3.5e6) })
	stdout, _, code := runCLI(t, "compare", base, next)
	assert.Equal(t, exitFailed, code)
	assert.NotContains(t, stdout, "explain")
}

// TestReportExplainsAdjacentKernels: report --html explains netns between
// 6.1 and 6.12, which are next to each other in version order and differ
// by 30%, from their traces.
func TestReportExplainsAdjacentKernels(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	writeRun(t, run, 1, 5, 1, func(f *results.File) { traceAll(f, 4e6, 2e6) })
	writeRun(t, run, 2, 5, 1.3, func(f *results.File) {
		f.Kernel.Name, f.Kernel.Version = "debian-6.12-cloud", "6.12.117"
		traceAll(f, 5.5e6, 3.5e6)
	})
	page := filepath.Join(dir, "report.html")
	_, stderr, code := runCLI(t, "report", run, "--html", page, "--baselines", "none")
	require.Equal(t, exitOK, code, stderr)
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(b), `<svg class="icicle"`))
	// (html/template writes + as &#43;.)
	assert.Contains(t, string(b), "Where the kernel time went: netns on debian-6.1-cloud → debian-6.12-cloud (regressed &#43;")
}
