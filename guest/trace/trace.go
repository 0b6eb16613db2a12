// Package trace graphs where a scenario's time goes in the kernel, with
// tracefs's function_graph tracer, inside the guest.
//
// [Pass] runs a few extra iterations of a scenario with function_graph on
// the scenario's system-call entry points and the child's exit and reap
// path (set_graph_function, see [DefaultRoots], keeping only the names
// available_filter_functions lists), a bounded max_graph_depth, sleep time
// included (a grace-period wait shows where it happens), and only this
// process's tasks and their children (set_ftrace_pid + function-fork). After
// each iteration it reads the trace and sums it per call path (root → ... →
// function): calls and inclusive wall time. The result is an event.Trace
// holding the paths with the most time and a summary of the rest.
//
// The agent calls Pass after a scenario's timed iterations, never before or
// during them: Pass leaves tracing_on at 0 and current_tracer at nop, and
// while current_tracer is nop the kernel's function hooks are not installed
// at all, so timed samples pay nothing.
//
// A kernel without tracefs or without function_graph in available_tracers
// yields a Trace whose Unsupported is "needs CONFIG_FUNCTION_GRAPH_TRACER",
// never an error.
//
// Environment: none. Needs root; mounts tracefs on /sys/kernel/tracing when
// nothing is mounted there.
package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"coldstart/event"
)

// DefaultDir is where tracefs is mounted.
const DefaultDir = "/sys/kernel/tracing"

// Unsupported is the reason a kernel without the tracer gets.
const Unsupported = "needs CONFIG_FUNCTION_GRAPH_TRACER"

// ErrNotSupported is matched by the error of a kernel that cannot trace.
var ErrNotSupported = errors.New("function_graph tracer not available")

// DefaultRoots are the entry points graphed: the namespace scenarios'
// system calls, the child's exit, and the parent's reap. Nested ones
// (do_exit under exit_group, release_task under wait4) only become roots
// when reached some other way.
var DefaultRoots = []string{
	"__x64_sys_clone", "__x64_sys_clone3", "__x64_sys_unshare", "__x64_sys_setns",
	"__x64_sys_mount", "__x64_sys_umount", "__x64_sys_pivot_root", "__x64_sys_seccomp",
	"__x64_sys_exit_group", "__x64_sys_exit", "do_exit",
	"__x64_sys_wait4", "__x64_sys_waitid", "release_task",
}

// Options configure a tracing pass. Zero values take the defaults.
type Options struct {
	// Dir is the tracefs mount point (default DefaultDir; tests use a
	// directory of plain files).
	Dir string
	// Roots are the candidate set_graph_function entries (default
	// DefaultRoots); those the kernel lacks are left out.
	Roots []string
	// MaxDepth bounds the graph (default 10: from clone down to the
	// per-subsystem init functions setup_net calls through ops_init, and
	// their callees).
	MaxDepth int
	// TopK bounds the paths sent (default 400).
	TopK int
	// BufferKB is the ring buffer per CPU (default 8192).
	BufferKB int
	// ExcerptBytes bounds the raw excerpt kept from the first iteration
	// (default 32 KiB; negative: none).
	ExcerptBytes int
	// PIDs are the tasks to trace, with their future children (default:
	// this process's threads); tasks outside never enter the graph.
	PIDs []int
	// Mount, when true, mounts tracefs on Dir if it is not there.
	Mount bool
}

func (o *Options) defaults() {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.Roots == nil {
		o.Roots = DefaultRoots
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 10
	}
	if o.TopK <= 0 {
		o.TopK = 400
	}
	if o.BufferKB <= 0 {
		o.BufferKB = 8192
	}
	if o.ExcerptBytes == 0 {
		o.ExcerptBytes = 32 << 10
	}
}

// Pass traces n iterations of iter (called with 0..n-1) and returns the
// aggregate for scenario. Problems are reported in the result (Unsupported,
// Error) rather than returned: tracing never fails a scenario. An error
// from iter stops the pass.
func Pass(o Options, scenario string, n int, iter func(i int) error) *event.Trace {
	o.defaults()
	tr := &event.Trace{Scenario: scenario}
	roots, err := Setup(o)
	if err != nil {
		if errors.Is(err, ErrNotSupported) {
			tr.Unsupported = Unsupported + " (" + err.Error() + ")"
		} else {
			tr.Error = err.Error()
		}
		Off(o.Dir)
		return tr
	}
	tr.Roots, tr.MaxDepth = roots, o.MaxDepth
	agg := NewAggregator()
	agg.Roots = map[string]bool{}
	for _, r := range roots {
		agg.Roots[r] = true
	}
	for i := 0; i < n; i++ {
		ex, err := traceOne(o, agg, iter, i, i == 0 && o.ExcerptBytes > 0)
		if ex != "" {
			tr.Excerpt = ex
		}
		if err != nil {
			tr.Error = err.Error()
			break
		}
		tr.Iterations++
	}
	if err := Off(o.Dir); err != nil && tr.Error == "" {
		tr.Error = err.Error()
	}
	tr.Paths, tr.Rest = agg.Top(o.TopK)
	tr.Lost = agg.Lost
	return tr
}

// traceOne clears the buffer, runs one iteration with tracing on, reads the
// trace into agg and returns the raw excerpt if asked.
func traceOne(o Options, agg *Aggregator, iter func(int) error, i int, excerpt bool) (string, error) {
	if err := write(o.Dir, "trace", ""); err != nil { // O_TRUNC clears every CPU's buffer
		return "", err
	}
	if err := write(o.Dir, "tracing_on", "1"); err != nil {
		return "", err
	}
	ierr := iter(i)
	if err := write(o.Dir, "tracing_on", "0"); err != nil {
		return "", err
	}
	if ierr != nil {
		return "", fmt.Errorf("traced iteration %d: %w", i, ierr)
	}
	f, err := os.Open(filepath.Join(o.Dir, "trace"))
	if err != nil {
		return "", fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	var raw *capped
	if excerpt {
		raw = &capped{max: o.ExcerptBytes}
		r = io.TeeReader(f, raw)
	}
	if err := agg.Read(r); err != nil {
		return "", fmt.Errorf("read trace: %w", err)
	}
	agg.EndIteration()
	agg.Lost += overruns(o.Dir)
	if raw != nil {
		ex := raw.String()
		if raw.Len() >= o.ExcerptBytes {
			if i := strings.LastIndexByte(ex, '\n'); i >= 0 {
				ex = ex[:i+1] // whole lines only
			}
		}
		return ex, nil
	}
	return "", nil
}

// Setup checks that the kernel has function_graph and configures it, with
// tracing off; it returns the graph roots used. Call Off when done.
func Setup(o Options) ([]string, error) {
	o.defaults()
	if _, err := os.Stat(filepath.Join(o.Dir, "available_tracers")); err != nil {
		if !o.Mount {
			return nil, fmt.Errorf("%w: no tracefs at %s", ErrNotSupported, o.Dir)
		}
		if err := unix.Mount("tracefs", o.Dir, "tracefs", 0, ""); err != nil {
			return nil, fmt.Errorf("%w: mount tracefs on %s: %v", ErrNotSupported, o.Dir, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(o.Dir, "available_tracers"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	if !hasWord(string(b), "function_graph") {
		return nil, fmt.Errorf("%w: available_tracers is %q", ErrNotSupported, strings.TrimSpace(string(b)))
	}
	if err := Off(o.Dir); err != nil {
		return nil, err
	}
	roots, err := available(o.Dir, o.Roots)
	if err != nil {
		return nil, err
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("none of %s is in available_filter_functions", strings.Join(o.Roots, ", "))
	}
	steps := []struct{ file, value string }{
		{"set_graph_function", strings.Join(roots, "\n")},
		{"max_graph_depth", strconv.Itoa(o.MaxDepth)},
		{"buffer_size_kb", strconv.Itoa(o.BufferKB)},
		{"set_ftrace_pid", pidList(o.PIDs)},
		{"current_tracer", "function_graph"},
	}
	for _, s := range steps {
		if err := write(o.Dir, s.file, s.value); err != nil {
			return nil, err
		}
	}
	// funcgraph-proc names the task on every line: a task that sleeps in
	// wait4 may return on another CPU, so entries and exits are matched
	// per task, not per CPU.
	for _, opt := range []struct{ name, value string }{
		{"funcgraph-proc", "1"}, {"funcgraph-abstime", "0"}, {"funcgraph-irqs", "0"},
		{"funcgraph-overhead", "1"}, {"funcgraph-duration", "1"}, {"funcgraph-cpu", "1"},
		{"funcgraph-tail", "0"}, {"funcgraph-retval", "0"}, {"sleep-time", "1"},
		{"function-fork", "1"}, {"context-info", "1"},
	} {
		p := filepath.Join("options", opt.name)
		if _, err := os.Stat(filepath.Join(o.Dir, p)); err != nil {
			continue // older kernels lack some options
		}
		if err := write(o.Dir, p, opt.value); err != nil {
			return nil, err
		}
	}
	return roots, nil
}

// Off stops tracing and removes the tracer and the filters Setup set:
// tracing_on 0, current_tracer nop (the kernel's function hooks go away).
func Off(dir string) error {
	var first error
	for _, s := range []struct{ file, value string }{
		{"tracing_on", "0"}, {"current_tracer", "nop"},
		{"set_graph_function", ""}, {"set_ftrace_pid", ""}, {"options/function-fork", "0"},
	} {
		if _, err := os.Stat(filepath.Join(dir, s.file)); err != nil {
			continue
		}
		if err := write(dir, s.file, s.value); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// State reads current_tracer and tracing_on, for checking that nothing
// traces while timing.
func State(dir string) (tracer string, on bool, err error) {
	if dir == "" {
		dir = DefaultDir
	}
	b, err := os.ReadFile(filepath.Join(dir, "current_tracer"))
	if err != nil {
		return "", false, err
	}
	c, err := os.ReadFile(filepath.Join(dir, "tracing_on"))
	if err != nil {
		return "", false, err
	}
	return strings.TrimSpace(string(b)), strings.TrimSpace(string(c)) == "1", nil
}

// write writes value to a tracefs file, truncating it (which is how
// set_graph_function and set_ftrace_pid are replaced and trace is cleared).
func write(dir, name, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("tracefs %s: %w", name, err)
	}
	if value != "" {
		if _, err := f.WriteString(value + "\n"); err != nil {
			f.Close()
			return fmt.Errorf("tracefs: write %q to %s: %w", value, name, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tracefs %s: %w", name, err)
	}
	return nil
}

// available keeps the names available_filter_functions lists, in order.
func available(dir string, want []string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "available_filter_functions"))
	if err != nil {
		return nil, fmt.Errorf("tracefs: %w", err)
	}
	defer f.Close()
	need := map[string]bool{}
	for _, w := range want {
		need[w] = true
	}
	have := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), " ") // "func [module]"
		if need[name] {
			have[name] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tracefs available_filter_functions: %w", err)
	}
	var out []string
	for _, w := range want {
		if have[w] {
			out = append(out, w)
			delete(have, w)
		}
	}
	return out, nil
}

// pidList renders the tasks to trace: the given PIDs, or every thread of
// this process.
func pidList(pids []int) string {
	var w []string
	for _, p := range pids {
		w = append(w, strconv.Itoa(p))
	}
	if len(w) == 0 {
		ents, _ := os.ReadDir("/proc/self/task")
		for _, e := range ents {
			w = append(w, e.Name())
		}
	}
	return strings.Join(w, " ")
}

// overruns sums the events each CPU's ring buffer overwrote or dropped.
func overruns(dir string) int64 {
	paths, _ := filepath.Glob(filepath.Join(dir, "per_cpu", "cpu*", "stats"))
	var n int64
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok || (k != "overrun" && k != "dropped events") {
				continue
			}
			x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			n += x
		}
	}
	return n
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// capped keeps the first max bytes written to it.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		c.Buffer.Write(p[:room])
	}
	return len(p), nil
}

// Describe renders the tracing state of dir (default DefaultDir) as
// "current_tracer=nop tracing_on=0", or event.NoTracefs when there is none
// (event.Untraced reads it).
func Describe(dir string) string {
	t, on, err := State(dir)
	if err != nil {
		return event.NoTracefs
	}
	o := "0"
	if on {
		o = "1"
	}
	return "current_tracer=" + t + " tracing_on=" + o
}
