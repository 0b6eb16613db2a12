package trace

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"

	"coldstart/event"
)

// Line kinds in function_graph output.
const (
	kindNone   = iota // header, blank, comment, irq marker: nothing to count
	kindEntry         // "func() {"
	kindExit          // "}" (maybe "} /* func */")
	kindLeaf          // "func();" with its duration
	kindSwitch        // " 1)  a-1  =>  b-2" context-switch block line
	kindLost          // "CPU:1 [LOST 12 EVENTS]"
)

// line is one parsed line of function_graph output.
type line struct {
	kind  int
	cpu   int
	task  string // "comm-pid" with funcgraph-proc; the new task on kindSwitch
	dur   int64  // ns, when hasDur
	has   bool   // hasDur
	depth int
	fn    string
	lost  int64
}

// parseLine reads one line of the function_graph tracer's output, as
// kernel/trace/trace_functions_graph.c prints it with funcgraph-cpu and
// funcgraph-duration on, funcgraph-abstime off, and funcgraph-proc and
// funcgraph-overhead either way:
//
//  0. csagent-61   |               |  __x64_sys_clone() {
//  0. csagent-61   |   0.301 us    |      copy_process();
//  0. csagent-61   | ! 123.456 us  |  }
//
// The function column starts after the last '|': two spaces, then two per
// depth level. The duration carries an overhead mark (+ ! # * @ $) when it
// is long.
func parseLine(s string) line {
	s = strings.TrimRight(s, " \t\r\n")
	t := strings.TrimLeft(s, " ")
	if t == "" || t[0] == '#' {
		return line{}
	}
	if strings.HasPrefix(t, "CPU:") {
		// CPU:1 [LOST 12 EVENTS]
		if i := strings.Index(t, "[LOST "); i >= 0 {
			f := strings.Fields(t[i+len("[LOST "):])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return line{kind: kindLost, lost: n}
			}
		}
		return line{}
	}
	paren := strings.IndexByte(t, ')')
	if paren <= 0 {
		return line{}
	}
	cpu, err := strconv.Atoi(strings.TrimSpace(t[:paren]))
	if err != nil {
		return line{}
	}
	rest := t[paren+1:]
	if i := strings.Index(rest, "=>"); i >= 0 && !strings.Contains(rest, "|") {
		return line{kind: kindSwitch, cpu: cpu, task: strings.TrimSpace(rest[i+2:])}
	}
	bar := strings.LastIndexByte(rest, '|')
	if bar < 0 {
		return line{}
	}
	l := line{cpu: cpu}
	cols := strings.Split(rest[:bar], "|")
	// cols: [task,] duration ("" for an entry)  — with funcgraph-proc the
	// task column comes first.
	durCol := cols[len(cols)-1]
	if len(cols) >= 2 {
		l.task = strings.TrimSpace(cols[len(cols)-2])
	}
	if d, ok := parseDuration(durCol); ok {
		l.dur, l.has = d, true
	}
	fcol := rest[bar+1:]
	n := len(fcol) - len(strings.TrimLeft(fcol, " "))
	l.depth = (n - 2) / 2
	if l.depth < 0 {
		l.depth = 0
	}
	f := strings.TrimSpace(fcol)
	// Drop a trailing comment: "} /* func */", "func(); /* = 0x0 */".
	comment := ""
	if i := strings.Index(f, "/*"); i >= 0 {
		comment = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f[i+2:]), "*/"))
		f = strings.TrimSpace(f[:i])
	}
	switch {
	case f == "}":
		l.kind = kindExit
		if name, _, _ := strings.Cut(comment, " "); name != "" && name != "=" {
			l.fn = name
		}
	case strings.HasSuffix(f, "() {"):
		l.kind, l.fn = kindEntry, strings.TrimSuffix(f, "() {")
	case strings.HasSuffix(f, "();") && l.has:
		l.kind, l.fn = kindLeaf, strings.TrimSuffix(f, "();")
	default:
		// "==========>" irq markers, trace_printk comments, ...
		return line{}
	}
	return l
}

// parseDuration reads the duration column: "  0.301 us  ", "+ 12.345 us",
// "$ 1234567 us". It reports false for an empty column.
func parseDuration(col string) (int64, bool) {
	f := strings.Fields(col)
	if len(f) > 0 && len(f[0]) == 1 && strings.ContainsAny(f[0], "+!#*@$") {
		f = f[1:]
	}
	if len(f) < 2 || f[1] != "us" {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return int64(v*1000 + 0.5), true
}

// frame is a call whose exit has not been seen yet.
type frame struct {
	skip    bool // under a root that is not in Roots
	path    string
	childNS int64 // inclusive time of finished callees
}

// stat is one call path's sums.
type stat struct {
	calls, ns, open int64
	iters           []int64 // ns per finished iteration
	cur             int64   // ns in the current iteration
}

// Aggregator sums function_graph output per call path. Feed it one
// iteration's trace with Read, then call EndIteration; Top gives the
// bounded result.
type Aggregator struct {
	paths  map[string]*stat
	stacks map[string][]*frame // per task
	onCPU  map[int]string      // task running on a CPU, from switch lines
	nIter  int                 // iterations ended
	// Lost counts events the trace said it lost; Unmatched counts exits
	// without an entry (the trace began inside a call).
	Lost, Unmatched int64
	// Roots, when set, are the only functions counted at depth 0 (with
	// their callees). A child forked inside a graphed call inherits the
	// tracer's "in the graph" state and has a few stray depth-0 calls
	// traced on its way back to user space: those are left out.
	Roots map[string]bool
}

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{paths: map[string]*stat{}, stacks: map[string][]*frame{}, onCPU: map[int]string{}}
}

// Read feeds function_graph text to the aggregator.
func (a *Aggregator) Read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		a.Line(sc.Text())
	}
	return sc.Err()
}

// Line feeds one line.
func (a *Aggregator) Line(s string) {
	l := parseLine(s)
	switch l.kind {
	case kindNone:
		return
	case kindLost:
		a.Lost += l.lost
		return
	case kindSwitch:
		a.onCPU[l.cpu] = l.task
		return
	}
	task := l.task
	if task == "" {
		// Without funcgraph-proc, the context-switch lines say who runs;
		// before the first one, the CPU stands for its task.
		task = a.onCPU[l.cpu]
		if task == "" {
			task = "cpu" + strconv.Itoa(l.cpu)
		}
	}
	st := a.stacks[task]
	switch l.kind {
	case kindEntry:
		st = a.sync(st, l.depth)
		st = append(st, &frame{path: a.pathOf(st, l.fn), skip: a.skip(st, l.fn)})
	case kindLeaf:
		st = a.sync(st, l.depth)
		if !a.skip(st, l.fn) {
			a.add(st, a.pathOf(st, l.fn), l.dur, false)
		}
	case kindExit:
		if len(st) < l.depth+1 {
			a.Unmatched++
			break
		}
		st = a.sync(st, l.depth+1)
		f := st[len(st)-1]
		st = st[:len(st)-1]
		d := l.dur
		if !l.has {
			d = f.childNS
		}
		if !f.skip {
			a.add(st, f.path, d, false)
		}
	}
	a.stacks[task] = st
}

// sync makes the stack depth deep: frames deeper than that lost their exit
// (closed as open calls); missing callers (the trace began inside them)
// are filled in as "?".
func (a *Aggregator) sync(st []*frame, depth int) []*frame {
	for len(st) > depth {
		f := st[len(st)-1]
		st = st[:len(st)-1]
		if !f.skip {
			a.add(st, f.path, f.childNS, true)
		}
	}
	for len(st) < depth {
		st = append(st, &frame{path: a.pathOf(st, "?"), skip: a.skip(st, "?")})
	}
	return st
}

// skip reports whether a call of fn on top of st is left out.
func (a *Aggregator) skip(st []*frame, fn string) bool {
	if len(st) > 0 {
		return st[0].skip
	}
	return a.Roots != nil && !a.Roots[fn]
}

func (a *Aggregator) pathOf(st []*frame, fn string) string {
	if len(st) == 0 {
		return fn
	}
	return st[len(st)-1].path + ";" + fn
}

// add counts one call of path taking ns, and gives its time to the caller
// on top of st.
func (a *Aggregator) add(st []*frame, path string, ns int64, open bool) {
	s := a.paths[path]
	if s == nil {
		s = &stat{iters: make([]int64, a.nIter)}
		a.paths[path] = s
	}
	s.calls++
	s.ns += ns
	s.cur += ns
	if open {
		s.open++
	}
	if len(st) > 0 {
		st[len(st)-1].childNS += ns
	}
}

// EndIteration closes the calls still open (the exiting child's do_exit
// never returns): each counts with the time of its finished callees.
func (a *Aggregator) EndIteration() {
	tasks := make([]string, 0, len(a.stacks))
	for t := range a.stacks {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	for _, t := range tasks {
		a.sync(a.stacks[t], 0)
	}
	a.stacks = map[string][]*frame{}
	a.onCPU = map[int]string{}
	for _, s := range a.paths {
		s.iters = append(s.iters, s.cur)
		s.cur = 0
	}
	a.nIter++
}

// Top returns at most k paths by inclusive time (plus any ancestors they
// need), sorted by path so that callers come before callees, and a
// summary of the rest.
func (a *Aggregator) Top(k int) ([]event.TracePath, *event.TraceRest) {
	all := make([]string, 0, len(a.paths))
	for p := range a.paths {
		all = append(all, p)
	}
	sort.Slice(all, func(i, j int) bool {
		si, sj := a.paths[all[i]], a.paths[all[j]]
		if si.ns != sj.ns {
			return si.ns > sj.ns
		}
		if di, dj := strings.Count(all[i], ";"), strings.Count(all[j], ";"); di != dj {
			return di < dj
		}
		return all[i] < all[j]
	})
	kept := map[string]bool{}
	var keep func(p string)
	keep = func(p string) {
		if kept[p] {
			return
		}
		if i := strings.LastIndexByte(p, ';'); i >= 0 {
			keep(p[:i])
		}
		kept[p] = true
	}
	for _, p := range all {
		if len(kept) >= k {
			break
		}
		keep(p)
	}
	var out []event.TracePath
	var rest event.TraceRest
	for _, p := range all {
		s := a.paths[p]
		if kept[p] {
			out = append(out, event.TracePath{Path: p, Calls: s.calls, NS: s.ns, Open: s.open, IterNS: s.iters})
			continue
		}
		rest.Paths++
		parent, _, hasParent := cutLast(p)
		if !hasParent || kept[parent] {
			rest.Calls += s.calls
			rest.NS += s.ns
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	if rest.Paths == 0 {
		return out, nil
	}
	return out, &rest
}

func cutLast(p string) (parent, fn string, ok bool) {
	i := strings.LastIndexByte(p, ';')
	if i < 0 {
		return "", p, false
	}
	return p[:i], p[i+1:], true
}
