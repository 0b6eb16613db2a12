package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/event"
	"coldstart/harness/results"
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
	assert.Contains(t, stdout, "own time grew most in __x64_sys_clone > setup_net: +4.00 ms")
	assert.Contains(t, stdout, "tracing off while timing: yes / yes")

	// Run directories with one file each; markdown; --out.
	out := filepath.Join(dir, "x.md")
	_, stderr, code = runCLI(t, "explain", "--format", "markdown", filepath.Join(dir, "a"), filepath.Join(dir, "b"), "--scenario", "netns", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	md, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(md), "| +4.00 ms | 3.00 ms | 7.00 ms |")

	stdout, stderr, code = runCLI(t, "explain", a, b, "--scenario", "netns", "--format", "svg")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "<svg")

	_, stderr, code = runCLI(t, "explain", a, b, "--scenario", "ipcns")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "coldstart.trace=N")
	_, _, code = runCLI(t, "explain", a, "--scenario", "netns")
	assert.Equal(t, exitUsage, code)
	_, stderr, code = runCLI(t, "explain", a, b)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--scenario")
}
