package explain

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/event"
	"coldstart/harness/results"
)

// file makes a result file whose netns trace has the given paths with
// per-iteration times (ns) for three iterations.
func file(kernel string, wall int64, paths map[string][3]int64) *results.File {
	tr := &results.Trace{Scenario: "netns", Iterations: 3, MaxDepth: 10,
		Timed: []string{"current_tracer=nop tracing_on=0", "current_tracer=nop tracing_on=0"}}
	for p, it := range paths {
		tr.Paths = append(tr.Paths, event.TracePath{Path: p, Calls: 3, NS: it[0] + it[1] + it[2], IterNS: it[:]})
	}
	return &results.File{
		Schema: results.Schema, Kernel: results.Kernel{Name: kernel, Release: kernel + "-amd64"},
		Scenarios: map[string]*results.Scenario{"netns": {Status: results.StatusOK, Samples: []results.Sample{{WallNS: wall}}}},
		Boots:     []results.Boot{{Index: 0, Traces: map[string]*results.Trace{"netns": tr}}},
	}
}

func pair() (*results.File, *results.File) {
	base := file("base", 10e6, map[string][3]int64{
		"__x64_sys_clone":                              {5e6, 5e6, 5e6},
		"__x64_sys_clone;copy_net_ns":                  {4e6, 4e6, 4e6},
		"__x64_sys_clone;copy_net_ns;setup_net":        {3e6, 3e6, 3e6},
		"__x64_sys_clone;copy_net_ns;setup_net;ops_in": {1e6, 1e6, 1e6},
		"__x64_sys_wait4":                              {2e6, 2e6, 2e6},
	})
	// The new kernel spends 4 ms more in a function under setup_net
	// (one iteration preempted: medians ignore it), which the compiler
	// renamed.
	nw := file("new", 14e6, map[string][3]int64{
		"__x64_sys_clone":                                     {9e6, 9e6, 30e6},
		"__x64_sys_clone;copy_net_ns":                         {8e6, 8e6, 8e6},
		"__x64_sys_clone;copy_net_ns;setup_net":               {7e6, 7e6, 7e6},
		"__x64_sys_clone;copy_net_ns;setup_net;ops_in.isra.0": {5e6, 5e6, 5e6},
		"__x64_sys_wait4":                                     {2e6, 2e6, 2e6},
		"__x64_sys_wait4;new_thing":                           {1e5, 1e5, 1e5},
	})
	return base, nw
}

func TestExplainRanksGrowth(t *testing.T) {
	base, nw := pair()
	r, err := Explain(base, nw, "netns")
	require.NoError(t, err)
	var order []string
	for _, row := range r.Rows {
		order = append(order, row.Path)
	}
	assert.Equal(t, []string{
		"__x64_sys_clone",
		"__x64_sys_clone;copy_net_ns",
		"__x64_sys_clone;copy_net_ns;setup_net",
		"__x64_sys_clone;copy_net_ns;setup_net;ops_in",
		"__x64_sys_wait4;new_thing",
		"__x64_sys_wait4",
	}, order)
	require.NotNil(t, r.Culprit)
	assert.Equal(t, "__x64_sys_clone;copy_net_ns;setup_net;ops_in", r.Culprit.Path)
	assert.InDelta(t, 4e6, r.Culprit.SelfGrowth, 1)
	assert.InDelta(t, 4e6, r.Rows[0].Growth, 1, "median, not mean: the preempted iteration is ignored")
	assert.False(t, r.Rows[4].Base.Present)
	assert.True(t, r.Base.Untraced && r.New.Untraced)

	var text, md, svg, page bytes.Buffer
	require.NoError(t, WriteText(&text, r, 3))
	require.NoError(t, WriteMarkdown(&md, r, 0))
	require.NoError(t, WriteSVG(&svg, r))
	require.NoError(t, WriteHTML(&page, r, 2))
	assert.Equal(t, 2, strings.Count(page.String(), `<tr class="grew">`), "top 2 rows")
	assert.Contains(t, svg.String(), "netns: kernel call paths, base vs new")
	assert.Contains(t, page.String(), `<svg class="icicle"`)
	assert.Contains(t, page.String(), "own time grew most in __x64_sys_clone &gt; copy_net_ns &gt; setup_net &gt; ops_in")
	assert.NotContains(t, page.String(), "<script")
	assert.Contains(t, text.String(), "own time grew most in __x64_sys_clone > copy_net_ns > setup_net > ops_in: +4.00ms")
	assert.Contains(t, text.String(), "timed wall median (untraced): 10.00ms -> 14.00ms (+4.00ms, +40.0%)")
	assert.Equal(t, 3, strings.Count(text.String(), "  __x64_sys_clone"), "top 3 rows")
	assert.Contains(t, md.String(), "| +4.00ms | 5.00ms | 9.00ms | 1->1 |")
	// The SVG is well-formed XML with a box per visible path.
	dec := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	rects := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			require.ErrorContains(t, err, "EOF")
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	assert.Equal(t, 6, rects)
}

func TestExplainErrors(t *testing.T) {
	base, nw := pair()
	_, err := Explain(base, nw, "ipcns")
	assert.True(t, errors.Is(err, ErrNoTrace), "%v", err)
	var nt *NoTraceError
	require.ErrorAs(t, err, &nt)
	assert.Equal(t, NoTraceError{Kernel: "base", Release: "base-amd64", Scenario: "ipcns"}, *nt)

	nw.Boots[0].Traces["netns"] = &results.Trace{Scenario: "netns", Unsupported: "needs CONFIG_FUNCTION_GRAPH_TRACER"}
	_, err = Explain(base, nw, "netns")
	assert.True(t, errors.Is(err, ErrUnsupported), "%v", err)
	assert.ErrorContains(t, err, "needs CONFIG_FUNCTION_GRAPH_TRACER")
	var ue *UnsupportedError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "new", ue.Kernel)

	// A traced pass that failed says why.
	nw.Boots[0].Traces["netns"] = &results.Trace{Scenario: "netns", Error: "read trace_pipe: EIO"}
	_, err = Explain(base, nw, "netns")
	assert.True(t, errors.Is(err, ErrNoTrace), "%v", err)
	assert.ErrorContains(t, err, "boot 0: read trace_pipe: EIO")
}

func TestNormalize(t *testing.T) {
	assert.Equal(t, "a;copy_process;b", Normalize("a;copy_process.part.0;b.constprop.0.isra.0"))
	assert.Equal(t, "x;y", Normalize("x;y"))
}

func TestWaits(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"__x64_sys_wait4;kernel_wait4;do_wait;schedule", true},
		{"__x64_sys_wait4;kernel_wait4;do_wait;schedule;dequeue_task_fair;dequeue_entity", true},
		{"__x64_sys_waitid;kernel_waitid;do_wait;schedule", true},
		{"__x64_sys_wait4;kernel_wait4;do_wait", false},
		{"__x64_sys_wait4;kernel_wait4;do_wait;wait_consider_task;release_task", false},
		{"__x64_sys_clone;kernel_clone;wait_for_vfork_done;wait_for_completion_killable", true},
		{"__x64_sys_clone3;kernel_clone;wait_for_completion_state;__wait_for_common;schedule_timeout;schedule", true},
		{"__x64_sys_clone;_do_fork;wait_for_completion_killable", true},
		// A sleep of the task's own is a cause, wherever it is.
		{"__x64_sys_exit_group;do_group_exit;do_exit;exit_task_namespaces;switch_task_namespaces;free_nsproxy;free_uts_ns;synchronize_rcu;__wait_rcu_gp;wait_for_completion", false},
		{"__x64_sys_clone;kernel_clone;copy_process;copy_namespaces;create_new_namespaces;copy_ipcs;msleep;schedule_timeout_uninterruptible;schedule_timeout;schedule", false},
		{"__x64_sys_clone;kernel_clone;copy_process;kmem_cache_alloc_node;_cond_resched", false},
		{"schedule", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, waits(tt.path), tt.path)
	}
}

// TestExplainRanksWithoutWaits: the parent's sleep in do_wait grows with
// the child's exit; it is listed and marked but neither ranked nor named,
// and its callers rank by what they did besides waiting.
func TestExplainRanksWithoutWaits(t *testing.T) {
	base := file("base", 10e6, map[string][3]int64{
		"__x64_sys_exit_group":                               {1e6, 1e6, 1e6},
		"__x64_sys_exit_group;do_exit":                       {1e6, 1e6, 1e6},
		"__x64_sys_exit_group;do_exit;exit_task_namespaces":  {0.5e6, 0.5e6, 0.5e6},
		"__x64_sys_wait4":                                    {1.3e6, 1.3e6, 1.3e6},
		"__x64_sys_wait4;kernel_wait4":                       {1.3e6, 1.3e6, 1.3e6},
		"__x64_sys_wait4;kernel_wait4;do_wait":               {1.3e6, 1.3e6, 1.3e6},
		"__x64_sys_wait4;kernel_wait4;do_wait;schedule":      {1.1e6, 1.1e6, 1.1e6},
		"__x64_sys_wait4;kernel_wait4;do_wait;schedule;pick": {0.1e6, 0.1e6, 0.1e6},
		"__x64_sys_wait4;kernel_wait4;do_wait;release_task":  {0.1e6, 0.1e6, 0.1e6},
		"__x64_sys_clone":                                    {2e6, 2e6, 2e6},
		"__x64_sys_clone;copy_process":                       {1.9e6, 1.9e6, 1.9e6},
	})
	// The child's namespace teardown takes 5 ms more; the parent sleeps
	// 5.2 ms more; its release_task takes 0.3 ms more.
	nw := file("new", 15e6, map[string][3]int64{
		"__x64_sys_exit_group":                               {6e6, 6e6, 6e6},
		"__x64_sys_exit_group;do_exit":                       {6e6, 6e6, 6e6},
		"__x64_sys_exit_group;do_exit;exit_task_namespaces":  {5.5e6, 5.5e6, 5.5e6},
		"__x64_sys_wait4":                                    {6.8e6, 6.8e6, 6.8e6},
		"__x64_sys_wait4;kernel_wait4":                       {6.8e6, 6.8e6, 6.8e6},
		"__x64_sys_wait4;kernel_wait4;do_wait":               {6.8e6, 6.8e6, 6.8e6},
		"__x64_sys_wait4;kernel_wait4;do_wait;schedule":      {6.3e6, 6.3e6, 6.3e6},
		"__x64_sys_wait4;kernel_wait4;do_wait;schedule;pick": {0.1e6, 0.1e6, 0.1e6},
		"__x64_sys_wait4;kernel_wait4;do_wait;release_task":  {0.4e6, 0.4e6, 0.4e6},
		"__x64_sys_clone":                                    {2e6, 2e6, 2e6},
		"__x64_sys_clone;copy_process":                       {1.9e6, 1.9e6, 1.9e6},
	})
	r, err := Explain(base, nw, "netns")
	require.NoError(t, err)
	require.NotNil(t, r.Culprit)
	assert.Equal(t, "__x64_sys_exit_group;do_exit;exit_task_namespaces", r.Culprit.Path)
	require.Len(t, r.Waits, 1)
	assert.Equal(t, "__x64_sys_wait4;kernel_wait4;do_wait;schedule", r.Waits[0].Path)
	assert.InDelta(t, 5.2e6, r.WaitGrowth, 1)

	type ranked struct {
		path                 string
		growth, waited, rank float64
		waits                bool
	}
	var got []ranked
	for _, row := range r.Rows {
		got = append(got, ranked{row.Path, row.Growth, row.WaitGrowth, row.Ranked(), row.Waits})
	}
	assert.Equal(t, []ranked{
		{"__x64_sys_exit_group", 5e6, 0, 5e6, false},
		{"__x64_sys_exit_group;do_exit", 5e6, 0, 5e6, false},
		{"__x64_sys_exit_group;do_exit;exit_task_namespaces", 5e6, 0, 5e6, false},
		{"__x64_sys_wait4", 5.5e6, 5.2e6, 0.3e6, false},
		{"__x64_sys_wait4;kernel_wait4", 5.5e6, 5.2e6, 0.3e6, false},
		{"__x64_sys_wait4;kernel_wait4;do_wait", 5.5e6, 5.2e6, 0.3e6, false},
		{"__x64_sys_wait4;kernel_wait4;do_wait;release_task", 0.3e6, 0, 0.3e6, false},
		{"__x64_sys_clone", 0, 0, 0, false},
		{"__x64_sys_clone;copy_process", 0, 0, 0, false},
		{"__x64_sys_wait4;kernel_wait4;do_wait;schedule", 5.2e6, 5.2e6, 0, true},
		{"__x64_sys_wait4;kernel_wait4;do_wait;schedule;pick", 0, 0, 0, true},
	}, got)

	// The table marks the waits and the callers' waiting; a wait below
	// the top rows is still listed, once.
	var text bytes.Buffer
	require.NoError(t, WriteText(&text, r, 3))
	out := text.String()
	assert.Contains(t, out, "own time grew most in __x64_sys_exit_group > do_exit > exit_task_namespaces: +5.00ms")
	assert.Contains(t, out, "not ranked: +5.20ms per iteration spent waiting for traced tasks, in __x64_sys_wait4 > kernel_wait4 > do_wait > schedule: a parent sleeps there")
	assert.Contains(t, out, "__x64_sys_wait4 > kernel_wait4 > do_wait > schedule  [waits for a traced task]\n")
	assert.Equal(t, 1, strings.Count(out, "do_wait > schedule  [waits"))
	assert.Equal(t, 4, strings.Count(out, " 1->1 "), "3 top rows and the wait")
	text.Reset()
	require.NoError(t, WriteText(&text, r, 0))
	out = text.String()
	assert.Contains(t, out, "__x64_sys_wait4 > kernel_wait4 > do_wait  [+5.20ms of it waiting]\n")
	assert.Equal(t, 1, strings.Count(out, "do_wait > schedule  [waits"), "a wait among the top rows is not listed again")
	var page bytes.Buffer
	require.NoError(t, WriteHTML(&page, r, 0))
	assert.Contains(t, page.String(), `<tr class="grew waits">`)
	assert.Contains(t, page.String(), "do_wait &gt; schedule</code>  [waits for a traced task]</td>")
}

// TestExplainWaitsWithoutCause: the parent's wait grew and nothing traced
// did (the child spent it outside the graph): no path is named, and a
// note says where the time can hide.
func TestExplainWaitsWithoutCause(t *testing.T) {
	paths := func(sleep int64) map[string][3]int64 {
		return map[string][3]int64{
			"__x64_sys_exit_group":         {1e6, 1e6, 1e6},
			"__x64_sys_clone":              {1e6 + sleep, 1e6 + sleep, 1e6 + sleep},
			"__x64_sys_clone;kernel_clone": {1e6 + sleep, 1e6 + sleep, 1e6 + sleep},
			"__x64_sys_clone;kernel_clone;wait_for_completion_killable": {sleep, sleep, sleep},
		}
	}
	r, err := Explain(file("base", 10e6, paths(2e6)), file("new", 15e6, paths(7e6)), "netns")
	require.NoError(t, err)
	assert.Nil(t, r.Culprit)
	require.Len(t, r.Waits, 1)
	assert.Equal(t, "__x64_sys_clone;kernel_clone;wait_for_completion_killable", r.Waits[0].Path)
	var text bytes.Buffer
	require.NoError(t, WriteText(&text, r, 0))
	assert.NotContains(t, text.String(), "own time grew most")
	assert.Contains(t, text.String(), "not ranked: +5.00ms per iteration spent waiting for traced tasks, in __x64_sys_clone > kernel_clone > wait_for_completion_killable:")
	assert.Contains(t, text.String(), "note: waiting for traced tasks grew 5.00ms per iteration, but no traced path's own time grew by half as much (0ns at most): the awaited tasks spent it where the graph does not reach")
	assert.Contains(t, text.String(), "__x64_sys_clone > kernel_clone  [+5.00ms of it waiting]\n")
}
