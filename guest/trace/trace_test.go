package trace

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/event"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		in   string
		want line
	}{
		{" 0)    uinit-85    |               |  __x64_sys_clone() {", line{kind: kindEntry, task: "uinit-85", depth: 0, fn: "__x64_sys_clone"}},
		{" 1)    uinit-85    |   2.456 us    |        _raw_spin_lock_irq();", line{kind: kindLeaf, cpu: 1, task: "uinit-85", dur: 2456, has: true, depth: 3, fn: "_raw_spin_lock_irq"}},
		{" 0)    uinit-85    | + 23.150 us   |        }", line{kind: kindExit, task: "uinit-85", dur: 23150, has: true, depth: 3}},
		{" 0)    uinit-85    | ! 123.45 us   |  }", line{kind: kindExit, task: "uinit-85", dur: 123450, has: true}},
		{" 0)    uinit-85    | $ 1234567 us  |  } /* __x64_sys_wait4 */", line{kind: kindExit, task: "uinit-85", dur: 1234567000, has: true, fn: "__x64_sys_wait4"}},
		{" 3)   # 1502.4 us |    }", line{kind: kindExit, cpu: 3, dur: 1502400, has: true, depth: 1}},
		{" 2)               |      copy_process() {", line{kind: kindEntry, cpu: 2, depth: 2, fn: "copy_process"}},
		{" 0)    uinit-85    |   0.301 us    |    free_pid(); /* = 0x0 */", line{kind: kindLeaf, task: "uinit-85", dur: 301, has: true, depth: 1, fn: "free_pid"}},
		{" 0)    uinit-85    =>   uinit-125   ", line{kind: kindSwitch, task: "uinit-125"}},
		{"CPU:1 [LOST 17 EVENTS]", line{kind: kindLost, lost: 17}},
		{" ------------------------------------------", line{}},
		{"# tracer: function_graph", line{}},
		{" 0)   ==========> |", line{}},
		{"", line{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseLine(tt.in), "%q", tt.in)
	}
}

// folded renders an aggregate as "path calls ns open [iter ns...]" lines.
func folded(a *Aggregator, k int) string {
	paths, rest := a.Top(k)
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "%s %d %d %d %v\n", p.Path, p.Calls, p.NS, p.Open, p.IterNS)
	}
	if rest != nil {
		fmt.Fprintf(&b, "rest: %d paths, %d calls, %d ns\n", rest.Paths, rest.Calls, rest.NS)
	}
	fmt.Fprintf(&b, "lost %d, unmatched %d\n", a.Lost, a.Unmatched)
	return b.String()
}

func TestAggregate(t *testing.T) {
	// Two tasks: the parent's clone and wait4, which sleeps on CPU 0 and
	// returns on CPU 1; the child's exit, which never returns; a stray
	// depth-0 call outside the roots; an iteration boundary.
	trace := `# tracer: function_graph
 0)   p-1    |               |  __x64_sys_clone() {
 0)   p-1    |   2.000 us    |    copy_process();
 0)   p-1    | + 10.000 us   |  }
 0)   p-1    |               |  __x64_sys_wait4() {
 0)   p-1    |               |    do_wait() {
 0)   c-2    |   1.000 us    |  get_xsave_addr();
 0)   c-2    |               |  __x64_sys_exit_group() {
 0)   c-2    |               |    do_exit() {
 0)   c-2    |   3.000 us    |      exit_mm();
 0)   c-2    |               |      do_task_dead() {
 1)   p-1    |   1.500 us    |      release_task();
 1)   p-1    | + 20.000 us   |    }
 1)   p-1    | + 25.000 us   |  }
CPU:0 [LOST 2 EVENTS]
`
	a := NewAggregator()
	a.Roots = map[string]bool{"__x64_sys_clone": true, "__x64_sys_wait4": true, "__x64_sys_exit_group": true}
	require.NoError(t, a.Read(strings.NewReader(trace)))
	a.EndIteration()
	require.NoError(t, a.Read(strings.NewReader(" 0)   p-1    |   4.000 us    |  __x64_sys_clone();\n")))
	a.EndIteration()
	want := `__x64_sys_clone 2 14000 0 [10000 4000]
__x64_sys_clone;copy_process 1 2000 0 [2000 0]
__x64_sys_exit_group 1 3000 1 [3000 0]
__x64_sys_exit_group;do_exit 1 3000 1 [3000 0]
__x64_sys_exit_group;do_exit;do_task_dead 1 0 1 [0 0]
__x64_sys_exit_group;do_exit;exit_mm 1 3000 0 [3000 0]
__x64_sys_wait4 1 25000 0 [25000 0]
__x64_sys_wait4;do_wait 1 20000 0 [20000 0]
__x64_sys_wait4;do_wait;release_task 1 1500 0 [1500 0]
lost 2, unmatched 0
`
	assert.Equal(t, want, folded(a, 100))

	// Top keeps the biggest paths and their callers, and sums the rest
	// once: do_exit's callees are left out under a kept do_exit.
	got := folded(a, 3)
	assert.Contains(t, got, "__x64_sys_wait4;do_wait 1 20000")
	assert.Contains(t, got, "rest: 6 paths, 3 calls, 6500 ns")
}

// TestGolden parses real function_graph output taken in the guest (the
// excerpts the agent sends: the first 32 KiB of a traced iteration, cut
// mid-call) and compares the aggregate with a golden file. A mismatch
// writes testdata/<name>.got.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.trace")
	require.NoError(t, err)
	require.NotEmpty(t, ins)
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			f, err := os.Open(in)
			require.NoError(t, err)
			defer f.Close()
			a := NewAggregator()
			a.Roots = map[string]bool{}
			for _, r := range DefaultRoots {
				a.Roots[r] = true
			}
			require.NoError(t, a.Read(f))
			a.EndIteration()
			got := folded(a, 1000)
			golden := strings.TrimSuffix(in, ".trace") + ".golden"
			want, _ := os.ReadFile(golden)
			if os.Getenv("UPDATE_GOLDEN") != "" {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			if string(want) != got {
				os.WriteFile(strings.TrimSuffix(in, ".trace")+".got", []byte(got), 0o644)
				assert.Equal(t, string(want), got, "%s (UPDATE_GOLDEN=1 rewrites it)", golden)
			}
		})
	}
}

// fakeTracefs is a directory of plain files laid out like tracefs.
func fakeTracefs(t *testing.T, tracers string) string {
	dir := t.TempDir()
	files := map[string]string{
		"available_tracers":          tracers + "\n",
		"available_filter_functions": "do_exit\n__x64_sys_clone\nrelease_task\n__x64_sys_wait4\n__x64_sys_exit_group\nfoo [mod]\n",
		"current_tracer":             "nop\n", "tracing_on": "1\n", "trace": "", "set_graph_function": "",
		"max_graph_depth": "0\n", "buffer_size_kb": "1408\n", "set_ftrace_pid": "",
		"options/funcgraph-proc": "0\n", "options/function-fork": "0\n", "options/sleep-time": "1\n",
		"per_cpu/cpu0/stats": "entries: 3\noverrun: 0\n", "per_cpu/cpu1/stats": "entries: 3\noverrun: 4\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

func read(t *testing.T, dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

func TestPass(t *testing.T) {
	dir := fakeTracefs(t, "function_graph function nop")
	iter := func(i int) error {
		// While the iteration runs, the tracer is set up and on.
		assert.Equal(t, "function_graph", read(t, dir, "current_tracer"))
		assert.Equal(t, "1", read(t, dir, "tracing_on"))
		assert.Equal(t, "1", read(t, dir, "options/funcgraph-proc"))
		assert.Equal(t, "1", read(t, dir, "options/function-fork"))
		assert.Equal(t, "__x64_sys_clone\n__x64_sys_exit_group\ndo_exit\n__x64_sys_wait4\nrelease_task", read(t, dir, "set_graph_function"))
		assert.Equal(t, "12 13", read(t, dir, "set_ftrace_pid"))
		return os.WriteFile(filepath.Join(dir, "trace"), []byte(" 0)  a-1  |   5.000 us    |  __x64_sys_clone();\n"), 0o644)
	}
	tr := Pass(Options{Dir: dir, PIDs: []int{12, 13}}, "netns", 3, iter)
	require.Empty(t, tr.Error)
	require.Empty(t, tr.Unsupported)
	assert.Equal(t, 3, tr.Iterations)
	assert.Equal(t, 10, tr.MaxDepth)
	require.Len(t, tr.Paths, 1)
	assert.Equal(t, int64(15000), tr.Paths[0].NS)
	assert.Equal(t, []int64{5000, 5000, 5000}, tr.Paths[0].IterNS)
	assert.Equal(t, int64(12), tr.Lost, "per_cpu stats overruns, read after each iteration")
	assert.Contains(t, tr.Excerpt, "__x64_sys_clone();")
	// Afterwards nothing traces.
	assert.Equal(t, "nop", read(t, dir, "current_tracer"))
	assert.Equal(t, "0", read(t, dir, "tracing_on"))
	assert.Empty(t, read(t, dir, "set_graph_function"))
	assert.Empty(t, read(t, dir, "set_ftrace_pid"))
	assert.True(t, event.Untraced(Describe(dir)))
}

func TestPassIterationFails(t *testing.T) {
	dir := fakeTracefs(t, "function_graph nop")
	tr := Pass(Options{Dir: dir, PIDs: []int{1}}, "netns", 3, func(i int) error {
		if i == 1 {
			return fmt.Errorf("boom")
		}
		return nil
	})
	assert.Equal(t, 1, tr.Iterations)
	assert.Contains(t, tr.Error, "traced iteration 1: boom")
	assert.Equal(t, "nop", read(t, dir, "current_tracer"))
}

func TestPassUnsupported(t *testing.T) {
	ran := false
	iter := func(int) error { ran = true; return nil }
	tr := Pass(Options{Dir: fakeTracefs(t, "blk function nop")}, "netns", 3, iter)
	assert.Contains(t, tr.Unsupported, "needs CONFIG_FUNCTION_GRAPH_TRACER")
	assert.Empty(t, tr.Error)

	tr = Pass(Options{Dir: filepath.Join(t.TempDir(), "none")}, "netns", 3, iter)
	assert.Contains(t, tr.Unsupported, "needs CONFIG_FUNCTION_GRAPH_TRACER")
	assert.False(t, ran)
	assert.Equal(t, event.NoTracefs, Describe(filepath.Join(t.TempDir(), "none")))
}
