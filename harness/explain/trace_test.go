package explain_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/guest/trace"
	"coldstart/harness/explain"
	"coldstart/harness/results"
	"coldstart/internal/golden"
)

// tracedFile reads function_graph text as the guest's tracer writes it
// (one traced iteration per file), sums it per call path as the agent does
// (package trace, the default roots and bound) and wraps it in a result
// file of kernel, with tracing seen off around the timed iterations.
func tracedFile(t *testing.T, kernel, scenario string, iterations ...string) *results.File {
	t.Helper()
	agg := trace.NewAggregator()
	agg.Roots = map[string]bool{}
	for _, r := range trace.DefaultRoots {
		agg.Roots[r] = true
	}
	for _, name := range iterations {
		f, err := os.Open(filepath.Join("testdata", name))
		require.NoError(t, err)
		require.NoError(t, agg.Read(f))
		f.Close()
		agg.EndIteration()
	}
	require.Zero(t, agg.Unmatched, "every exit in the trace has its entry")
	tr := &results.Trace{Scenario: scenario, Iterations: len(iterations), Roots: trace.DefaultRoots, MaxDepth: 10,
		Timed: []string{"current_tracer=nop tracing_on=0", "current_tracer=nop tracing_on=0"}}
	tr.Paths, tr.Rest = agg.Top(400)
	return &results.File{
		Schema: results.Schema, Kernel: results.Kernel{Name: kernel},
		Scenarios: map[string]*results.Scenario{scenario: {Status: results.StatusOK}},
		Boots:     []results.Boot{{Index: 0, Status: results.StatusOK, Traces: map[string]*results.Trace{scenario: tr}}},
	}
}

// TestExplainTracePairs explains recorded trace pairs (testdata/README.md
// says how each was made): the culprit, the waits left out of the ranking,
// and the text and markdown against golden files.
func TestExplainTracePairs(t *testing.T) {
	tests := []struct {
		name, scenario     string
		baseKernel, kernel string
		base, new          []string
		culprit            string   // the headline's path
		waits              []string // the rows not ranked, largest first
	}{
		{
			// The child's exit waits out a grace period; the parent's
			// reap sleeps through it and grows by a little more.
			name: "exit-gp", scenario: "utsns", baseKernel: "5.10", kernel: "5.10-gp",
			base: []string{"exit-gp.base.trace"}, new: []string{"exit-gp.new.trace"},
			culprit: "__x64_sys_exit_group;do_group_exit;do_exit;exit_task_namespaces;switch_task_namespaces;" +
				"free_nsproxy;free_uts_ns;synchronize_rcu;__wait_rcu_gp;wait_for_completion",
			waits: []string{"__x64_sys_wait4;kernel_wait4;do_wait;schedule"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := tracedFile(t, tt.baseKernel, tt.scenario, tt.base...)
			nw := tracedFile(t, tt.kernel, tt.scenario, tt.new...)
			r, err := explain.Explain(base, nw, tt.scenario)
			require.NoError(t, err)
			require.NotNil(t, r.Culprit)
			assert.Equal(t, tt.culprit, r.Culprit.Path)
			var waits []string
			for _, w := range r.Waits {
				waits = append(waits, w.Path)
				assert.True(t, w.Waits)
				// The wait grew at least as much as the culprit: ranked
				// with the rest, it would have been named instead.
				assert.GreaterOrEqual(t, w.SelfGrowth, r.Culprit.SelfGrowth, w.Path)
			}
			assert.Equal(t, tt.waits, waits)
			for _, row := range r.Rows {
				if row.Waits {
					assert.Zero(t, row.Ranked(), "%s: a wait ranks at zero", row.Path)
				}
			}
			var text, md bytes.Buffer
			require.NoError(t, explain.WriteText(&text, r, 0))
			require.NoError(t, explain.WriteMarkdown(&md, r, 0))
			golden.Check(t, tt.name+".txt", text.Bytes())
			golden.Check(t, tt.name+".md", md.Bytes())
		})
	}
}

// TestReadmeQuotesTracePair: the README's explain section quotes
// exit-gp.txt; its header lines and rows must be the golden's.
func TestReadmeQuotesTracePair(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("testdata", "exit-gp.txt"))
	require.NoError(t, err)
	quoted := 0
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "own time grew most in __x64_sys_exit_group") || strings.HasPrefix(l, "not ranked: ") ||
			strings.Contains(l, "  [waits for a traced task]") || strings.HasSuffix(l, "  __x64_sys_exit_group") {
			assert.Contains(t, string(want), l+"\n", "README line not in testdata/exit-gp.txt")
			quoted++
		}
	}
	assert.Equal(t, 4, quoted, "the README quotes the headline, the not-ranked line and two rows")
}
