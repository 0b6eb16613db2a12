package compare

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"text/tabwriter"

	"coldstart/internal/duration"
	"coldstart/stats"
)

// Formats lists the output formats Write accepts.
var Formats = []string{"text", "markdown", "json", "junit", "benchstat", "html"}

// Write renders r in the named format.
func Write(w io.Writer, format string, r *Report) error {
	switch format {
	case "text":
		return WriteText(w, r)
	case "markdown":
		return WriteMarkdown(w, r)
	case "json":
		return WriteJSON(w, r)
	case "junit":
		return WriteJUnit(w, r)
	case "benchstat":
		return WriteBenchstat(w, r)
	case "html":
		return WriteHTML(w, PageFromReport(r))
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// change formats a ratio as a signed percentage.
func change(ratio float64) string {
	if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", (ratio-1)*100)
}

func interval(v *stats.View) string {
	if v == nil || math.IsNaN(v.CI.Lo) {
		return ""
	}
	return fmt.Sprintf("[%s, %s]", change(v.CI.Lo), change(v.CI.Hi))
}

// headline is the change column: the change when significant, "~" when not
// (benchstat's convention).
func headline(v *stats.View, alpha float64) string {
	if v == nil {
		return ""
	}
	if v.P > alpha {
		return "~"
	}
	return change(v.Ratio)
}

func pval(v *stats.View) string {
	if v == nil {
		return ""
	}
	return pfmt(v.P)
}

func pfmt(p float64) string {
	if p < 0.001 {
		return "p<0.001"
	}
	return fmt.Sprintf("p=%.3f", p)
}

func nBoots(r Row) string {
	if r.Base == nil || r.New == nil {
		return ""
	}
	return fmt.Sprintf("n=%d+%d", r.Base.Boots, r.New.Boots)
}

func medianOf(s *Side) string {
	if s == nil || s.Boots == 0 {
		return "-"
	}
	return duration.Format(s.Median)
}

func verdictWord(v stats.Verdict) string {
	switch v {
	case stats.Regressed:
		return "REGRESSED"
	case stats.Improved:
		return "improved"
	}
	return string(v)
}

func header(r *Report) string {
	cal := ""
	if r.Calibrated() {
		cal = " (where a note says so, each boot's divided by its guest speed)"
	}
	return fmt.Sprintf("base %s, new %s: %s time, median of per-boot medians%s, %g%% intervals, α=%g",
		r.Base, r.New, r.Metric, cal, r.Level*100, r.Alpha)
}

// Calibrated reports whether any row's samples were calibrated.
func (r *Report) Calibrated() bool {
	for _, row := range r.Rows {
		if row.New != nil && row.New.Calibrated {
			return true
		}
	}
	return false
}

// Summary is a one-line count of verdicts.
func (r *Report) Summary() string {
	c := r.Count()
	var parts []string
	for _, v := range []stats.Verdict{stats.Regressed, stats.Improved, stats.Same, stats.Unknown, Unsupported, Failed, Missing} {
		if c[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[v], v))
		}
	}
	return fmt.Sprintf("%d comparisons: %s", len(r.Rows), strings.Join(parts, ", "))
}

func byKernel(r *Report) (kernels []string, rows map[string][]Row) {
	rows = map[string][]Row{}
	for _, row := range r.Rows {
		if _, ok := rows[row.Kernel]; !ok {
			kernels = append(kernels, row.Kernel)
		}
		rows[row.Kernel] = append(rows[row.Kernel], row)
	}
	return kernels, rows
}

// WriteText writes a benchstat-like table per kernel.
func WriteText(w io.Writer, r *Report) error {
	fmt.Fprintln(w, header(r))
	kernels, rows := byKernel(r)
	for _, k := range kernels {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tbase\tnew\tchange\t95%% CI\tp\tboots\tverdict\tpooled\tnote\n", k)
		for _, row := range rows[k] {
			pooled := ""
			if row.Pooled != nil {
				pooled = change(row.Pooled.Ratio) + " " + pfmt(row.Pooled.P)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Scenario,
				medianOf(row.Base), medianOf(row.New), headline(row.Boot, r.Alpha), interval(row.Boot),
				pval(row.Boot), nBoots(row), verdictWord(row.Verdict), pooled, row.Note)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, r.Summary())
	writeGateText(w, r)
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	fmt.Fprintln(w, "change: ~ when p > α; verdict needs p ≤ α and the CI beyond the threshold; pooled = all samples as one (not used for verdicts).")
	return nil
}

var mdEscaper = strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;")

// WriteMarkdown writes a table for pull requests and issue comments.
func WriteMarkdown(w io.Writer, r *Report) error {
	c := r.Count()
	status := "no regression"
	if n := c[stats.Regressed] + len(r.Broken); n > 0 {
		status = fmt.Sprintf("**%d regressed**", n)
	} else if g := gateStatus(r); g != "" {
		status = "**" + g + "**"
	}
	fmt.Fprintf(w, "### coldstart: %s\n\n", status)
	fmt.Fprintf(w, "%s\n\n", mdEscaper.Replace(header(r)))
	kernels, rows := byKernel(r)
	for _, k := range kernels {
		fmt.Fprintf(w, "#### %s\n\n", mdEscaper.Replace(k))
		fmt.Fprintln(w, "| scenario | base | new | change | 95% CI | p | boots | verdict | note |")
		fmt.Fprintln(w, "|---|--:|--:|--:|:-:|--:|--:|---|---|")
		for _, row := range rows[k] {
			v := verdictWord(row.Verdict)
			switch row.Verdict {
			case stats.Regressed:
				v = "🔴 **regressed**"
			case stats.Improved:
				v = "🟢 improved"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdEscaper.Replace(row.Scenario),
				medianOf(row.Base), medianOf(row.New), headline(row.Boot, r.Alpha), interval(row.Boot),
				pval(row.Boot), nBoots(row), v, mdEscaper.Replace(row.Note))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, r.Summary()+".")
	writeGateMarkdown(w, r)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\n- %s", mdEscaper.Replace(n))
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
	}
	return nil
}

// num maps NaN and ±Inf, which JSON cannot hold, to null.
func num(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

type jsonView struct {
	Ratio *float64 `json:"ratio"`
	CILo  *float64 `json:"ci_lo"`
	CIHi  *float64 `json:"ci_hi"`
	P     float64  `json:"p"`
	PMWU  float64  `json:"p_mwu"`
	PKS   float64  `json:"p_ks"`
}

type jsonSide struct {
	Kernel      string    `json:"kernel"`
	Version     string    `json:"version,omitempty"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason,omitempty"`
	MedianNS    *float64  `json:"median_ns"`
	BootMedians []float64 `json:"boot_medians_ns"`
	Boots       int       `json:"boots"`
	Samples     int       `json:"samples"`
	MADNS       *float64  `json:"pooled_mad_ns"`
	Excluded    []int     `json:"excluded_boots,omitempty"`
}

type jsonRow struct {
	Kernel    string        `json:"kernel"`
	Scenario  string        `json:"scenario"`
	Verdict   stats.Verdict `json:"verdict"`
	Note      string        `json:"note,omitempty"`
	Threshold float64       `json:"threshold"`
	Base      *jsonSide     `json:"base,omitempty"`
	New       *jsonSide     `json:"new,omitempty"`
	PerBoot   *jsonView     `json:"per_boot,omitempty"`
	Pooled    *jsonView     `json:"pooled,omitempty"`
}

type jsonReport struct {
	Schema    int                   `json:"schema"`
	Base      string                `json:"base"`
	New       string                `json:"new"`
	Metric    string                `json:"metric"`
	Alpha     float64               `json:"alpha"`
	Level     float64               `json:"level"`
	Regressed bool                  `json:"regressed"`
	Counts    map[stats.Verdict]int `json:"counts"`
	Rows      []jsonRow             `json:"rows"`
	Notes     []string              `json:"notes,omitempty"`
	Refused   []Finding             `json:"refused,omitempty"`
	Broken    []Finding             `json:"broken,omitempty"`
	Gaps      []Finding             `json:"gaps,omitempty"`
	Warnings  []string              `json:"warnings,omitempty"`
}

func toJSONView(v *stats.View) *jsonView {
	if v == nil {
		return nil
	}
	return &jsonView{num(v.Ratio), num(v.CI.Lo), num(v.CI.Hi), v.P, v.PMWU, v.PKS}
}

func toJSONSide(s *Side) *jsonSide {
	if s == nil {
		return nil
	}
	return &jsonSide{s.Kernel, s.Version, s.Status, s.Reason, num(s.Median), s.BootMedians, s.Boots, s.Pooled.N, num(s.Pooled.MAD), s.Excluded}
}

// WriteJSON writes the report as JSON (schema 1); numbers that do not exist
// (the ratio to a zero median, say) are null.
func WriteJSON(w io.Writer, r *Report) error {
	out := jsonReport{Schema: 1, Base: r.Base, New: r.New, Metric: r.Metric, Alpha: r.Alpha, Level: r.Level,
		Regressed: r.Regressed(), Counts: r.Count(), Notes: r.Notes, Rows: []jsonRow{},
		Refused: r.Refused, Broken: r.Broken, Gaps: r.Gaps, Warnings: r.Warnings}
	for _, row := range r.Rows {
		out.Rows = append(out.Rows, jsonRow{row.Kernel, row.Scenario, row.Verdict, row.Note, row.Threshold,
			toJSONSide(row.Base), toJSONSide(row.New), toJSONView(row.Boot), toJSONView(row.Pooled)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes one test case per kernel and scenario: a regression is
// a failure, a scenario that failed to run an error, an unsupported or
// missing one skipped; the others pass with the numbers in system-out.
func WriteJUnit(w io.Writer, r *Report) error {
	out := junitSuites{Name: "coldstart compare"}
	kernels, rows := byKernel(r)
	for _, k := range kernels {
		s := junitSuite{Name: k, Time: "0"}
		for _, row := range rows[k] {
			secs := 0.0
			if row.New != nil && row.New.Boots > 0 {
				secs = row.New.Median / 1e9
			}
			c := junitCase{Classname: "coldstart." + k, Name: row.Scenario, Time: fmt.Sprintf("%.6f", secs)}
			detail := fmt.Sprintf("%s: base %s, new %s, change %s %s, %s, %s", row.Verdict, medianOf(row.Base), medianOf(row.New),
				change(ratioOf(row.Boot)), interval(row.Boot), pval(row.Boot), nBoots(row))
			if row.Note != "" {
				detail += "; " + row.Note
			}
			switch row.Verdict {
			case stats.Regressed:
				c.Failure = &junitMessage{Message: detail, Type: "regressed", Text: detail}
				s.Failures++
			case Failed:
				c.Error = &junitMessage{Message: row.Note, Type: "failed", Text: row.Note}
				s.Errors++
			case Unsupported, Missing:
				c.Skipped = &junitMessage{Message: string(row.Verdict) + ": " + row.Note}
				s.Skipped++
			default:
				c.SystemOut = detail
			}
			s.Tests++
			s.Cases = append(s.Cases, c)
		}
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
		out.Suites = append(out.Suites, s)
	}
	addGateJUnit(&out, r)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func ratioOf(v *stats.View) float64 {
	if v == nil {
		return math.NaN()
	}
	return v.Ratio
}

var benchNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9._+-]+`)

// BenchName is the Go benchmark name of a kernel and scenario.
func BenchName(kernel, scenario string) string {
	k := benchNameUnsafe.ReplaceAllString(strings.ReplaceAll(kernel, " → ", "-vs-"), "_")
	s := benchNameUnsafe.ReplaceAllString(scenario, "_")
	return "BenchmarkColdstart/kernel=" + k + "/scenario=" + s
}

// WriteBenchstat writes the Go benchmark format, one line per boot (its
// median; the iteration count is its number of samples), base first under
// the configuration line "side: base", then "side: new". Compare them with
// `benchstat -col side FILE`.
func WriteBenchstat(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "goos: linux\npkg: coldstart\nmetric: %s\n", r.Metric)
	for _, which := range []string{"base", "new"} {
		fmt.Fprintf(w, "side: %s\n", which)
		for _, row := range r.Rows {
			s := row.Base
			if which == "new" {
				s = row.New
			}
			if s == nil || s.Status != "ok" {
				continue
			}
			for i, g := range s.groups {
				fmt.Fprintf(w, "%s %d %.0f ns/op\n", BenchName(row.Kernel, row.Scenario), len(g), s.BootMedians[i])
			}
		}
	}
	return nil
}
