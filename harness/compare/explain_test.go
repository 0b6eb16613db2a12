package compare

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/event"
	"coldstart/harness/results"
	"coldstart/stats"
)

// addTrace gives every boot of f a trace of scenario: three traced
// iterations, each spending paths[p] ns in call path p, with tracing off
// around the timed iterations.
func addTrace(f *results.File, scenario string, paths map[string]int64) {
	for i := range f.Boots {
		tr := &results.Trace{Scenario: scenario, Iterations: 3, MaxDepth: 8,
			Timed: []string{"current_tracer=nop tracing_on=0", "current_tracer=nop tracing_on=0"}}
		for p, ns := range paths {
			tr.Paths = append(tr.Paths, event.TracePath{Path: p, Calls: 3, NS: 3 * ns, IterNS: []int64{ns, ns, ns}})
		}
		setTrace(&f.Boots[i], tr)
	}
}

// addUnsupportedTrace: f's kernel has no function_graph tracer.
func addUnsupportedTrace(f *results.File, scenario string) {
	for i := range f.Boots {
		setTrace(&f.Boots[i], &results.Trace{Scenario: scenario, Unsupported: "needs CONFIG_FUNCTION_GRAPH_TRACER (no function_graph in available_tracers)"})
	}
}

func setTrace(b *results.Boot, tr *results.Trace) {
	if b.Traces == nil {
		b.Traces = map[string]*results.Trace{}
	}
	b.Traces[tr.Scenario] = tr
}

// netnsPaths is a netns trace whose setup_net > ops_init takes extra ns
// of its own.
func netnsPaths(extra int64) map[string]int64 {
	return map[string]int64{
		"__x64_sys_unshare":                                                  6e6 + extra,
		"__x64_sys_unshare;copy_net_ns":                                      5.5e6 + extra,
		"__x64_sys_unshare;copy_net_ns;setup_net":                            5e6 + extra,
		"__x64_sys_unshare;copy_net_ns;setup_net;ops_init.constprop.0":       2e6 + extra,
		"__x64_sys_unshare;copy_net_ns;setup_net;ops_init;loopback_net_init": 1e6,
		"__x64_sys_exit_group":                                               3e6,
		"__x64_sys_exit_group;do_exit":                                       2.9e6,
		"__x64_sys_exit_group;do_exit;exit_task_namespaces":                  2e6,
		"__x64_sys_wait4":                                                    0.5e6,
	}
}

// tracedReport is fixtureReport with netns traced on 6.1 (3 ms more in
// ops_init on the new side: it regressed) and mqueue (improved) on a new
// kernel without the tracer.
func tracedReport(t *testing.T) *Report {
	t.Helper()
	base, next := fixtureRunsWith(t, func(side string, f *results.File) {
		if f.Kernel.Name != "debian-6.1-cloud" {
			return
		}
		extra := int64(0)
		if side == "new" {
			extra = 3e6
			addUnsupportedTrace(f, "mqueue")
		} else {
			addTrace(f, "mqueue", map[string]int64{"__x64_sys_unshare": 1e6})
		}
		addTrace(f, "netns", netnsPaths(extra))
	})
	o := DefaultOptions()
	o.Thresholds = map[string]float64{"ipcns": 0.10}
	r, err := Compare(base, next, o)
	require.NoError(t, err)
	r.Base, r.New = "base", "new"
	return r
}

func TestExplainGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		report func(*testing.T) *Report
		write  func(*bytes.Buffer, []Explanation) error
		golden string
	}{
		{"traced text", tracedReport, func(b *bytes.Buffer, e []Explanation) error { return WriteExplanationsText(b, e, 0) }, "compare.explain.txt"},
		{"traced markdown", tracedReport, func(b *bytes.Buffer, e []Explanation) error { return WriteExplanationsMarkdown(b, e, 5) }, "compare.explain.md"},
		{"untraced text", fixtureReport, func(b *bytes.Buffer, e []Explanation) error { return WriteExplanationsText(b, e, 0) }, "compare.explain-untraced.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exps := Explain(tc.report(t), ExplainOptions{})
			var b bytes.Buffer
			require.NoError(t, tc.write(&b, exps))
			golden(t, tc.golden, b.Bytes())
		})
	}
}

func TestExplainRows(t *testing.T) {
	exps := Explain(tracedReport(t), ExplainOptions{})
	require.Len(t, exps, 2, "netns regressed, mqueue improved")
	netns, mq := exps[0], exps[1]
	assert.Equal(t, "netns", netns.Scenario)
	require.NotNil(t, netns.Report)
	require.NotNil(t, netns.Report.Culprit)
	assert.Equal(t, "__x64_sys_unshare;copy_net_ns;setup_net;ops_init", netns.Report.Culprit.Path)
	assert.InDelta(t, 3e6, netns.Report.Culprit.SelfGrowth, 1)
	assert.True(t, mq.Unsupported)
	assert.Equal(t, "unsupported: debian-6.1-cloud (6.1.192-cloud-amd64) needs CONFIG_FUNCTION_GRAPH_TRACER (no function_graph in available_tracers)", mq.Why)

	// Only regressed rows; the hint is the caller's.
	exps = Explain(fixtureReport(t), ExplainOptions{Verdicts: []stats.Verdict{stats.Regressed}, Hint: "rerun with --explain"})
	require.Len(t, exps, 1)
	assert.Equal(t, "no kernel trace of the scenario in debian-6.1-cloud (6.1.192-cloud-amd64) for netns: rerun with --explain", exps[0].Why)

	// Nothing to explain says so.
	var b bytes.Buffer
	require.NoError(t, WriteExplanationsText(&b, nil, 0))
	assert.Equal(t, "\nexplain: nothing regressed or improved, nothing to explain\n", b.String())
}

func TestExplainHTML(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, PageFromReport(tracedReport(t))))
	page := b.String()
	golden(t, "compare.explain.html", b.Bytes())
	assert.Equal(t, 1, strings.Count(page, `<svg class="icicle"`), "the regressed scenario with traces")
	assert.Equal(t, 1, strings.Count(page, `<div class="explain"`))
	assert.Contains(t, page, "Where the kernel time went: netns on debian-6.1-cloud (regressed")
	assert.NotContains(t, page, "mqueue on debian-6.1-cloud (improved", "compare pages explain regressions only")

	// Without traces, no explain section.
	b.Reset()
	require.NoError(t, WriteHTML(&b, PageFromReport(fixtureReport(t))))
	assert.NotContains(t, b.String(), `<div class="explain"`)
}

// Adjacent kernels in version order: from 6.1 to 6.12 netns grew by 60%
// and ipcns halved, utsns did not change; 5.10 has no traces. Only netns
// and ipcns are explained, and the limit keeps the larger change.
func TestAdjacent(t *testing.T) {
	mk := func(name, version string, seed uint64, netns, ipcns float64, extra int64, traced bool) *results.File {
		f := fixture(name, version, seed, 6, 20, map[string]float64{"netns": netns, "ipcns": ipcns, "utsns": 1}, nil)
		if traced {
			addTrace(f, "netns", netnsPaths(extra))
			addTrace(f, "ipcns", map[string]int64{"__x64_sys_unshare": 1e6})
			addTrace(f, "utsns", map[string]int64{"__x64_sys_unshare": 1e6})
		}
		return f
	}
	files := []*results.File{
		mk("debian-6.12-cloud", "6.12.117", 3, 1.6, 0.5, 3e6, true),
		mk("debian-6.1-cloud", "6.1.192", 1, 1, 1, 0, true),
		mk("debian-5.10-cloud", "5.10.240", 2, 1, 2, 0, false),
	}
	exps := Adjacent(files, DefaultOptions(), 10)
	require.Len(t, exps, 2, "%+v", exps)
	e := exps[0]
	assert.Equal(t, "netns", e.Scenario)
	assert.Equal(t, "debian-6.1-cloud → debian-6.12-cloud", e.Kernel)
	assert.Equal(t, stats.Regressed, e.Verdict)
	require.NotNil(t, e.Report)
	assert.Equal(t, "debian-6.1-cloud", e.Report.Base.Kernel)
	assert.Equal(t, "ipcns", exps[1].Scenario)
	assert.Equal(t, stats.Improved, exps[1].Verdict)

	exps = Adjacent(files, DefaultOptions(), 1)
	require.Len(t, exps, 1)
	assert.Equal(t, "ipcns", exps[0].Scenario, "halving is the larger change")

	// The page puts it under netns.
	r := Matrix(files, nil, DefaultOptions())
	p := PageFromReport(r)
	p.AddExplanations(exps)
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, p))
	assert.Equal(t, 1, strings.Count(b.String(), `<svg class="icicle"`))
	assert.Contains(t, b.String(), "Where the kernel time went: ipcns on debian-6.1-cloud → debian-6.12-cloud (improved")
}
