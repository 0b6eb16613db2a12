package compare

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"

	"coldstart/harness/explain"
	"coldstart/harness/results"
	"coldstart/stats"
)

// Explanation is package explain's answer for one scenario between two
// kernels: a Report, or, when the result files cannot say, Why in one
// line (no traces and how to get them, or a kernel that cannot trace).
type Explanation struct {
	Kernel   string // the row's kernel label ("a → b" for two kernels)
	Scenario string
	Verdict  stats.Verdict
	Change   string // "+30.2%", the per-boot median change
	Report   *explain.Report
	// Unsupported is set when a kernel lacks the tracer: not a failure.
	Unsupported bool
	Why         string
}

// ExplainOptions choose what Explain explains and what it says when it
// cannot.
type ExplainOptions struct {
	// Verdicts are the rows explained (default: regressed and improved).
	Verdicts []stats.Verdict
	// Hint follows "no kernel trace ...": how the user gets traces, in
	// the terms of the command that asks (matrix --trace N, ci --explain).
	Hint string
}

// DefaultTraceHint is how result files get traces.
const DefaultTraceHint = "rerun coldstart matrix with --trace N (e.g. --trace 3: N traced iterations per scenario after the timed ones) on both sides"

// Explain runs package explain between the two result files of every row
// whose verdict o asks for, in the report's order.
func Explain(r *Report, o ExplainOptions) []Explanation {
	if len(o.Verdicts) == 0 {
		o.Verdicts = []stats.Verdict{stats.Regressed, stats.Improved}
	}
	if o.Hint == "" {
		o.Hint = DefaultTraceHint
	}
	var out []Explanation
	for _, row := range r.Rows {
		if !contains(o.Verdicts, row.Verdict) || row.Base == nil || row.New == nil {
			continue
		}
		e := Explanation{Kernel: row.Kernel, Scenario: row.Scenario, Verdict: row.Verdict}
		if row.Boot != nil {
			e.Change = change(row.Boot.Ratio)
		}
		base, next := fileNamed(r.BaseFiles, row.Base.Kernel), fileNamed(r.NewFiles, row.New.Kernel)
		if base == nil || next == nil {
			e.Why = "the result files are not at hand" // a report read back from JSON
			out = append(out, e)
			continue
		}
		e.Fill(base, next, o.Hint)
		out = append(out, e)
	}
	return out
}

// Fill explains e.Scenario from base to next: Report, or Why (with hint
// when a side has no trace; DefaultTraceHint when hint is "").
func (e *Explanation) Fill(base, next *results.File, hint string) {
	if hint == "" {
		hint = DefaultTraceHint
	}
	rep, err := explain.Explain(base, next, e.Scenario)
	var ue *explain.UnsupportedError
	switch {
	case err == nil:
		e.Report = rep
	case errors.As(err, &ue):
		e.Unsupported = true
		e.Why = fmt.Sprintf("unsupported: %s %s", explain.Label(ue.Kernel, ue.Release), ue.Reason)
	case errors.Is(err, explain.ErrNoTrace):
		e.Why = err.Error() + ": " + hint
	default:
		e.Why = err.Error()
	}
}

func contains(vs []stats.Verdict, v stats.Verdict) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

func fileNamed(files []*results.File, kernel string) *results.File {
	for _, f := range files {
		if f.Kernel.Name == kernel {
			return f
		}
	}
	return nil
}

// Adjacent explains, for kernels in version order, every scenario whose
// median of per-boot medians changed by more than its threshold from one
// kernel to the next, when both carry traces of it: at most limit of
// them (the largest changes), in scenario then kernel order. Pairs
// without traces are left out without a word: a matrix page is not the
// place to ask for them.
func Adjacent(files []*results.File, o Options, limit int) []Explanation {
	sorted := append([]*results.File(nil), files...)
	SortByVersion(sorted)
	names := map[string]bool{}
	for _, f := range sorted {
		for n := range f.Scenarios {
			names[n] = true
		}
	}
	type cand struct {
		e    Explanation
		size float64
		rank int
	}
	var cands []cand
	for si, n := range scenarioOrder(names, sorted...) {
		for i := 0; i+1 < len(sorted); i++ {
			a, b := sorted[i], sorted[i+1]
			if len(a.Traces(n)) == 0 || len(b.Traces(n)) == 0 {
				continue
			}
			sa, sb := side(a, n, o.Metric), side(b, n, o.Metric)
			if sa.Status != results.StatusOK || sb.Status != results.StatusOK || sa.Boots == 0 || sb.Boots == 0 || sa.Median <= 0 {
				continue
			}
			ratio := sb.Median / sa.Median
			if math.Abs(ratio-1) <= o.ThresholdFor(n) {
				continue
			}
			v := stats.Regressed
			if ratio < 1 {
				v = stats.Improved
			}
			e := Explanation{Kernel: a.Kernel.Name + " → " + b.Kernel.Name, Scenario: n, Verdict: v, Change: change(ratio)}
			e.Fill(a, b, "")
			if e.Report == nil {
				continue
			}
			cands = append(cands, cand{e, math.Abs(math.Log(ratio)), si*len(sorted) + i})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].size > cands[j].size })
	if limit > 0 && len(cands) > limit {
		cands = cands[:limit]
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].rank < cands[j].rank })
	out := make([]Explanation, len(cands))
	for i, c := range cands {
		out[i] = c.e
	}
	return out
}

func (e *Explanation) title() string {
	s := fmt.Sprintf("%s on %s (%s", e.Scenario, e.Kernel, e.Verdict)
	if e.Change != "" {
		s += " " + e.Change
	}
	return s + ")"
}

// WriteExplanationsText writes each explanation after a title line, with
// its top rows (0: explain.DefaultTop), or its one-line reason.
func WriteExplanationsText(w io.Writer, exps []Explanation, top int) error {
	var b bytes.Buffer
	if len(exps) == 0 {
		b.WriteString("\nexplain: nothing regressed or improved, nothing to explain\n")
	}
	for _, e := range exps {
		if e.Report == nil {
			fmt.Fprintf(&b, "\nexplain %s: %s\n", e.title(), e.Why)
			continue
		}
		fmt.Fprintf(&b, "\n--- explain %s ---\n", e.title())
		if err := explain.WriteText(&b, e.Report, top); err != nil {
			return err
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteExplanationsMarkdown is WriteExplanationsText for markdown reports:
// a section per explanation, a list item per reason.
func WriteExplanationsMarkdown(w io.Writer, exps []Explanation, top int) error {
	var b bytes.Buffer
	if len(exps) == 0 {
		b.WriteString("\nexplain: nothing regressed or improved, nothing to explain.\n")
	}
	for _, e := range exps {
		if e.Report == nil {
			fmt.Fprintf(&b, "\n- explain %s: %s\n", mdEscaper.Replace(e.title()), mdEscaper.Replace(e.Why))
			continue
		}
		// explain's own heading names the scenario and its header the
		// kernels; the verdict is in the table above.
		b.WriteString("\n")
		if err := explain.WriteMarkdown(&b, e.Report, top); err != nil {
			return err
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// PageExplain is one explanation as the HTML page shows it.
type PageExplain struct {
	Title string
	Body  template.HTML // explain.WriteHTML's fragment
	Why   string
}

// pageTop is how many call paths a page's explain tables list: the
// icicle shows them all.
const pageTop = 10

// AddExplanations puts exps on the page, each under its scenario. Those
// without a report show their one-line reason.
func (p *Page) AddExplanations(exps []Explanation) {
	for _, e := range exps {
		pe := PageExplain{Title: e.title(), Why: e.Why}
		if e.Report != nil {
			var b strings.Builder
			_ = explain.WriteHTML(&b, e.Report, pageTop) // a strings.Builder does not fail
			pe.Body = template.HTML(b.String())          // explain escapes what it writes
		}
		if p.Explains == nil {
			p.Explains = map[string][]PageExplain{}
		}
		if _, ok := p.Cells[e.Scenario]; !ok {
			p.Cells[e.Scenario] = map[string]*Cell{}
			p.Scenarios = append(p.Scenarios, e.Scenario)
		}
		p.Explains[e.Scenario] = append(p.Explains[e.Scenario], pe)
	}
}

// withTraces keeps the explanations that have a report.
func withTraces(exps []Explanation) []Explanation {
	var out []Explanation
	for _, e := range exps {
		if e.Report != nil {
			out = append(out, e)
		}
	}
	return out
}
