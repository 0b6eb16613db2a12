package explain

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"coldstart/event"
	"coldstart/harness/results"
	"coldstart/internal/duration"
	"coldstart/stats"
)

// ErrNoTrace is wrapped by a *NoTraceError: a result file holds no usable
// trace of the scenario (run the matrix with --trace N, which puts
// coldstart.trace=N on the kernel command line).
var ErrNoTrace = errors.New("no kernel trace of the scenario")

// ErrUnsupported is wrapped by an *UnsupportedError: a kernel could not
// trace (it lacks CONFIG_FUNCTION_GRAPH_TRACER). Callers report it as
// unsupported, never as a failure.
var ErrUnsupported = errors.New("kernel cannot trace")

// NoTraceError says which file lacks a trace of which scenario, and why
// when the guest said (a traced pass that failed, per boot). It does not
// say how to get traces: that depends on the caller (matrix --trace N, ci
// --explain, ...).
type NoTraceError struct {
	Kernel, Release, Scenario string
	Why                       []string // "boot 0: <error>"
}

func (e *NoTraceError) Error() string {
	s := fmt.Sprintf("%v in %s for %s", ErrNoTrace, Label(e.Kernel, e.Release), e.Scenario)
	if len(e.Why) > 0 {
		s += " (" + strings.Join(e.Why, "; ") + ")"
	}
	return s
}

func (e *NoTraceError) Unwrap() error { return ErrNoTrace }

// UnsupportedError is a kernel that cannot trace; Reason is the guest's
// ("needs CONFIG_FUNCTION_GRAPH_TRACER (...)").
type UnsupportedError struct {
	Kernel, Release string
	Boot            int
	Reason          string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%v: %s boot %d: %s", ErrUnsupported, Label(e.Kernel, e.Release), e.Boot, e.Reason)
}

func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// Report is one scenario's explanation between two kernels.
type Report struct {
	Scenario  string
	Base, New Side
	// Rows are every call path seen on either side, ranked by the growth
	// of their inclusive time per iteration less the time they spent
	// waiting for another traced task (Row.Ranked), largest first.
	Rows []Row
	// Culprit is the row whose own time (inclusive less its traced
	// callees) grew most: where the extra time is spent, not just passed
	// through. A row that waits for another traced task is never the
	// culprit (see Row.Waits). Nil when nothing else grew.
	Culprit *Row
	// Waits are the topmost rows that wait for another traced task (the
	// reaping parent's do_wait > schedule): shown, not ranked. Largest
	// growth first.
	Waits []*Row
	// WaitGrowth is the Waits' growth summed, ns per iteration.
	WaitGrowth float64
	// Notes are caveats worth reading (lost events, depth bound, ...).
	Notes []string
}

// Side describes one kernel's data.
type Side struct {
	Kernel, Release string
	// Boots and Iterations count the traces merged and the traced
	// iterations they sum over.
	Boots, Iterations int
	// WallMedianNS is the scenario's timed median wall time (untraced),
	// 0 when the file holds no samples.
	WallMedianNS float64
	// Untraced is true when every boot saw no tracer installed before and
	// after the timed iterations.
	Untraced bool
	MaxDepth int
	Lost     int64
	// RestNS is the time per iteration of the paths the guest left out.
	RestNS float64
}

// Row is one call path.
type Row struct {
	// Path is the functions from the root down, ";"-joined, with compiler
	// suffixes (.isra.0, .constprop.0, .part.0, .cold) removed so that
	// kernels built apart line up.
	Path      string
	Func      string
	Depth     int
	Base, New Figures
	// Growth and SelfGrowth are New less Base, ns per iteration.
	Growth, SelfGrowth float64
	// Waits is true when the path is at or under a sleep in which a task
	// waits for another traced task, such as a parent in wait4 until its
	// child has exited (see waitSites): its growth is the other task's,
	// an effect, so it is shown but never ranked nor named the culprit.
	Waits bool
	// WaitGrowth is the part of Growth spent waiting so: all of it for a
	// row that Waits, the topmost waits' beneath it for their callers.
	WaitGrowth float64
}

// Ranked is what rows are ranked by: Growth less WaitGrowth, the growth
// of the path's own work and sleeps.
func (r *Row) Ranked() float64 { return r.Growth - r.WaitGrowth }

// Figures are one side's per-iteration figures for a path.
type Figures struct {
	Present bool
	Calls   float64 // calls per iteration
	NS      float64 // inclusive ns, median per iteration
	Self    float64 // NS less the traced callees' NS
	// Open is true when some calls did not return within the trace (the
	// exiting child's do_exit): NS is then what their callees took.
	Open bool
}

// Segments splits Path into its functions.
func (r *Row) Segments() []string { return strings.Split(r.Path, ";") }

// Explain compares scenario's traces in base and new.
func Explain(base, new *results.File, scenario string) (*Report, error) {
	r := &Report{Scenario: scenario}
	bp, err := side(base, scenario, &r.Base)
	if err != nil {
		return nil, err
	}
	np, err := side(new, scenario, &r.New)
	if err != nil {
		return nil, err
	}
	rows := map[string]*Row{}
	for p, f := range bp {
		rows[p] = &Row{Path: p, Base: f}
	}
	for p, f := range np {
		row := rows[p]
		if row == nil {
			row = &Row{Path: p}
			rows[p] = row
		}
		row.New = f
	}
	for _, row := range rows {
		segs := row.Segments()
		row.Func, row.Depth = segs[len(segs)-1], len(segs)-1
		row.Growth = row.New.NS - row.Base.NS
		row.SelfGrowth = row.New.Self - row.Base.Self
	}
	waits := map[string]bool{}
	for _, p := range markWaits(rows) {
		waits[p] = true
	}
	for _, row := range rows {
		r.Rows = append(r.Rows, *row)
	}
	sort.Slice(r.Rows, func(i, j int) bool {
		a, b := &r.Rows[i], &r.Rows[j]
		if a.Ranked() != b.Ranked() {
			return a.Ranked() > b.Ranked()
		}
		if a.Depth != b.Depth {
			return a.Depth < b.Depth
		}
		return a.Path < b.Path
	})
	for i := range r.Rows {
		row := &r.Rows[i]
		if waits[row.Path] {
			r.Waits = append(r.Waits, row)
			r.WaitGrowth += row.Growth
		}
		if !row.Waits && row.SelfGrowth > 0 && (r.Culprit == nil || row.SelfGrowth > r.Culprit.SelfGrowth) {
			r.Culprit = row
		}
	}
	sort.SliceStable(r.Waits, func(i, j int) bool { return r.Waits[i].Growth > r.Waits[j].Growth })
	for _, s := range []*Side{&r.Base, &r.New} {
		if s.Lost > 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: the ring buffer lost %d events: its figures are low", s.Kernel, s.Lost))
		}
		if !s.Untraced {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: a tracer was installed around the timed iterations: its timed samples are suspect", s.Kernel))
		}
	}
	if r.Base.MaxDepth != r.New.MaxDepth {
		r.Notes = append(r.Notes, fmt.Sprintf("the traces were taken to different depths (%d, %d)", r.Base.MaxDepth, r.New.MaxDepth))
	}
	if d := max(r.Base.MaxDepth, r.New.MaxDepth); d > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("paths stop at depth %d: the deepest functions' own time includes their callees", d))
	}
	if own := r.ownGrowth(); r.WaitGrowth > 0 && own < r.WaitGrowth/2 {
		// The awaited task's growth should show in its own paths; when it
		// does not, say where it can hide rather than name a bystander.
		r.Notes = append(r.Notes, fmt.Sprintf("waiting for traced tasks grew %s per iteration, but no traced path's own time grew by half as much (%s at most): "+
			"the awaited tasks spent it where the graph does not reach (an exec after a vfork, work handed to a kernel thread, a path below the depth bound or outside the graph roots)",
			duration.Format(r.WaitGrowth), duration.Format(own)))
	}
	r.Notes = append(r.Notes, "traced times carry the tracer's own overhead: compare them with each other, not with the timed medians")
	return r, nil
}

// ownGrowth is the culprit's own growth, 0 without one.
func (r *Report) ownGrowth() float64 {
	if r.Culprit == nil {
		return 0
	}
	return r.Culprit.SelfGrowth
}

// side pools a file's traces of scenario, over boots, into per-iteration
// figures: medians over the traced iterations, which shrug off the odd
// iteration a busy host preempted.
func side(f *results.File, scenario string, s *Side) (map[string]Figures, error) {
	s.Kernel, s.Release = f.Kernel.Name, f.Kernel.Release
	if sc := f.Scenarios[scenario]; sc != nil {
		var w []float64
		for _, x := range sc.Samples {
			w = append(w, float64(x.WallNS))
		}
		if len(w) > 0 {
			s.WallMedianNS = stats.Median(w)
		}
	}
	var why []string
	var trs []results.BootTrace
	s.Untraced = true
	for _, t := range f.Traces(scenario) {
		switch {
		case t.Unsupported != "":
			return nil, &UnsupportedError{Kernel: f.Kernel.Name, Release: f.Kernel.Release, Boot: t.Boot, Reason: t.Unsupported}
		case t.Iterations == 0:
			why = append(why, fmt.Sprintf("boot %d: %s", t.Boot, t.Error))
			continue
		}
		trs = append(trs, t)
		s.Boots++
		s.Iterations += t.Iterations
		s.Lost += t.Lost
		s.MaxDepth = max(s.MaxDepth, t.MaxDepth)
		if len(t.Timed) == 0 {
			s.Untraced = false
		}
		for _, st := range t.Timed {
			s.Untraced = s.Untraced && event.Untraced(st)
		}
	}
	if s.Iterations == 0 {
		return nil, &NoTraceError{Kernel: f.Kernel.Name, Release: f.Kernel.Release, Scenario: scenario, Why: why}
	}
	n := s.Iterations
	type pooled struct {
		iters       []float64 // inclusive ns per iteration, all boots
		calls, open int64
	}
	paths := map[string]*pooled{}
	var rest int64
	off := 0
	for _, t := range trs {
		for _, p := range t.Paths {
			k := Normalize(p.Path)
			x := paths[k]
			if x == nil {
				x = &pooled{iters: make([]float64, n)}
				paths[k] = x
			}
			x.calls += p.Calls
			x.open += p.Open
			for i := 0; i < t.Iterations; i++ {
				if len(p.IterNS) == t.Iterations {
					x.iters[off+i] += float64(p.IterNS[i])
				} else { // no per-iteration figures: spread the sum
					x.iters[off+i] += float64(p.NS) / float64(t.Iterations)
				}
			}
		}
		if t.Rest != nil {
			rest += t.Rest.NS
		}
		off += t.Iterations
	}
	s.RestNS = float64(rest) / float64(n)
	self := map[string][]float64{}
	for p, x := range paths {
		self[p] = append([]float64(nil), x.iters...)
	}
	for p, x := range paths {
		if i := strings.LastIndexByte(p, ';'); i >= 0 {
			if parent, ok := self[p[:i]]; ok {
				for j := range parent {
					parent[j] -= x.iters[j]
				}
			}
		}
	}
	out := map[string]Figures{}
	for p, x := range paths {
		out[p] = Figures{Present: true, Calls: float64(x.calls) / float64(n), NS: stats.Median(x.iters), Self: stats.Median(self[p]), Open: x.open > 0}
	}
	return out, nil
}

var suffix = regexp.MustCompile(`\.(isra|constprop|part|llvm|cold)(\.[0-9]+)*`)

// Normalize removes compiler-made suffixes from each function of a path.
func Normalize(path string) string {
	if !strings.Contains(path, ".") {
		return path
	}
	return suffix.ReplaceAllString(path, "")
}
