// Package compare turns two sets of coldstart result files into verdicts,
// one per kernel and scenario, and writes them for people (text, markdown,
// HTML) and for machines (JSON, JUnit, Go benchmark format for benchstat).
//
// The verdict for each pair of boot-grouped samples is package stats'
// (stats.Decide, with its pooled second view, the power and the adaptive
// level); this package loads the result files, groups their samples by
// boot (leaving out boots whose guest clock fell back to ticks,
// clock_coarse, with a note), calibrates them to the guests' speed when
// asked, and writes the report.
//
// Explain runs package explain on the rows that regressed or improved,
// between their two result files, and Adjacent on kernels next to each
// other in version order; the HTML page embeds their tables and icicle
// charts when the files carry kernel traces (matrix --trace N). Scenarios that are unsupported or failed on either side are
// reported as such, never with a verdict.
//
// Gate (gate.go) then decides whether the comparison may pass at all: it
// fails closed on what could not be compared (a kernel or scenario on one
// side only, an incomplete run, another accelerator or machine class) and
// counts a scenario that ran in the base and fails or turns unsupported
// in the new run as a regression; Report.GateErr is what compare, ci and
// matrix exit with.
//
// Environment: none.
package compare

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"coldstart/harness/kernels/version"
	"coldstart/harness/results"
	"coldstart/stats"
)

// Verdicts for rows the statistics cannot judge, beside stats.Regressed,
// stats.Improved, stats.Same and stats.Unknown: they say why there is no
// verdict.
const (
	Unsupported stats.Verdict = "unsupported" // the kernel cannot run the scenario
	Failed      stats.Verdict = "failed"      // the scenario failed on one side
	Missing     stats.Verdict = "missing"     // present on one side only
)

// Options tune the comparison. Start from DefaultOptions.
type Options struct {
	// Threshold is the practical threshold t as a fraction (0.05 = 5%).
	Threshold float64
	// Thresholds overrides Threshold per scenario.
	Thresholds map[string]float64
	// Rule holds the significance level (Alpha), the intervals' level and
	// the bootstrap's rounds and seed.
	stats.Rule
	// Metric is "wall" (wall_ns, the whole cycle) or "op" (op_ns, the
	// system call alone).
	Metric string
	// Calibrate says when each boot's samples are divided by its guest
	// speed (see Speeds and stats.Calibrate) before comparing: CalibrateAuto (the default)
	// when the two sides' guests ran at clearly different speeds,
	// CalibrateOn always, CalibrateOff never.
	Calibrate string
	// AnyHost compares runs from different machine classes (with a
	// warning) instead of refusing to (see Gate).
	AnyHost bool
}

// DefaultOptions: 5% threshold, stats.DefaultRule (α = 0.01, 95%
// intervals), wall time.
func DefaultOptions() Options {
	return Options{Threshold: 0.05, Rule: stats.DefaultRule(), Metric: "wall", Calibrate: CalibrateAuto}
}

// ThresholdFor is the practical threshold for a scenario.
func (o Options) ThresholdFor(scenario string) float64 {
	if t, ok := o.Thresholds[scenario]; ok {
		return t
	}
	return o.Threshold
}

// Side summarises one side of a comparison.
type Side struct {
	Kernel  string `json:"kernel"`
	Version string `json:"version,omitempty"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	// Median is the median of the per-boot medians, in nanoseconds.
	Median      float64       `json:"median_ns"`
	BootMedians []float64     `json:"boot_medians_ns,omitempty"`
	Boots       int           `json:"boots"`
	Pooled      stats.Summary `json:"pooled"`
	// Excluded lists boots left out because their clock was coarse.
	Excluded []int `json:"excluded_boots,omitempty"`
	// Calibrated is set when the samples were divided by their boot's
	// guest speed (see stats.Calibrate); the figures above are then in the
	// base side's speed.
	Calibrated bool `json:"calibrated,omitempty"`

	groups [][]float64
	boots  []int
	// iterations is true when groups are one boot's iterations (the
	// virtual clock's replicates), not boots.
	iterations bool
	file       *results.File
}

// Row is the comparison of one scenario on one kernel (pair).
type Row struct {
	Kernel    string        `json:"kernel"`
	Scenario  string        `json:"scenario"`
	Verdict   stats.Verdict `json:"verdict"`
	Note      string        `json:"note,omitempty"`
	Threshold float64       `json:"threshold"`
	Base      *Side         `json:"base,omitempty"`
	New       *Side         `json:"new,omitempty"`
	Boot      *stats.View   `json:"per_boot,omitempty"` // the view that decides
	Pooled    *stats.View   `json:"pooled,omitempty"`   // second view
	// Detectable, for a row left unknown for want of significance, is
	// the smallest step (a ratio) these boots would have found 95% of the
	// time, given how much their per-boot medians spread (MinDetectable).
	Detectable float64 `json:"detectable,omitempty"`
}

// Report is a whole comparison.
type Report struct {
	Base   string   `json:"base"`
	New    string   `json:"new"`
	Metric string   `json:"metric"`
	Alpha  float64  `json:"alpha"`
	Level  float64  `json:"level"`
	Rows   []Row    `json:"rows"`
	Notes  []string `json:"notes,omitempty"`
	// What the gate found (gate.go): Refused and Gaps fail the
	// comparison (exit 2), Broken rows are regressions (exit 1).
	Refused  []Finding `json:"refused,omitempty"`
	Broken   []Finding `json:"broken,omitempty"`
	Gaps     []Finding `json:"gaps,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
	// NewFiles and BaseFiles are the inputs, for the charts.
	NewFiles  []*results.File `json:"-"`
	BaseFiles []*results.File `json:"-"`
}

// Regressed reports whether any row regressed, or the gate found a
// scenario that ran on the base broken on the new side.
func (r *Report) Regressed() bool {
	if len(r.Broken) > 0 {
		return true
	}
	for _, row := range r.Rows {
		if row.Verdict == stats.Regressed {
			return true
		}
	}
	return false
}

// Count returns how many rows have each verdict.
func (r *Report) Count() map[stats.Verdict]int {
	c := map[stats.Verdict]int{}
	for _, row := range r.Rows {
		c[row.Verdict]++
	}
	return c
}

// Groups returns a scenario's replicates: its samples grouped by boot, in
// boot order, leaving out boots with a coarse clock (excluded lists those
// that had samples), or, on the virtual clock when the boots are copies,
// the iterations of one boot (virtualReplicates).
func Groups(f *results.File, scenario, metric string) (groups [][]float64, boots []int, excluded []int) {
	groups, boots, excluded = bootGroups(f, scenario, metric)
	groups, boots, _ = virtualReplicates(f, groups, boots)
	return groups, boots, excluded
}

// bootGroups is Groups by boot, whatever the clock.
func bootGroups(f *results.File, scenario, metric string) (groups [][]float64, boots []int, excluded []int) {
	sc := f.Scenarios[scenario]
	if sc == nil {
		return nil, nil, nil
	}
	coarse := map[int]bool{}
	for _, b := range f.Boots {
		if b.ClockCoarse {
			coarse[b.Index] = true
		}
	}
	v := results.Wall
	if metric == "op" {
		v = results.Op
	}
	byBoot := sc.ByBoot(v)
	for b := range byBoot {
		boots = append(boots, b)
	}
	sort.Ints(boots)
	var kept []int
	for _, b := range boots {
		if coarse[b] {
			excluded = append(excluded, b)
			continue
		}
		kept = append(kept, b)
		groups = append(groups, byBoot[b])
	}
	return groups, kept, excluded
}

func side(f *results.File, scenario, metric string) *Side {
	s := &Side{Kernel: f.Kernel.Name, Version: f.Kernel.Version}
	sc := f.Scenarios[scenario]
	if sc == nil {
		s.Status = string(Missing)
		return s
	}
	s.Status, s.Reason = sc.Status, sc.Reason
	if sc.Status == results.StatusUnsupported && sc.Option != "" && !strings.Contains(s.Reason, sc.Option) {
		s.Reason = strings.TrimSpace(s.Reason + " (needs " + sc.Option + ")")
	}
	s.file = f
	s.groups, s.boots, s.Excluded = bootGroups(f, scenario, metric)
	s.groups, s.boots, s.iterations = virtualReplicates(f, s.groups, s.boots)
	s.summarize()
	return s
}

func (s *Side) summarize() {
	s.BootMedians = stats.GroupMedians(s.groups)
	s.Boots = len(s.BootMedians)
	s.Median = stats.Median(s.BootMedians)
	s.Pooled = stats.Summarize(stats.Pool(s.groups))
}

// CompareFiles compares every scenario found in either file.
func CompareFiles(base, next *results.File, o Options) []Row {
	label := next.Kernel.Name
	if base.Kernel.Name != next.Kernel.Name {
		label = base.Kernel.Name + " → " + next.Kernel.Name
	}
	names := map[string]bool{}
	for n := range base.Scenarios {
		names[n] = true
	}
	for n := range next.Scenarios {
		names[n] = true
	}
	var rows []Row
	for _, n := range scenarioOrder(names, next, base) {
		rows = append(rows, compareScenario(label, n, base, next, o))
	}
	return rows
}

// scenarioOrder follows the run's plan, then the rest by name.
func scenarioOrder(names map[string]bool, files ...*results.File) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range files {
		for _, n := range f.Plan.Scenarios {
			if names[n] && !seen[n] {
				out = append(out, n)
				seen[n] = true
			}
		}
	}
	var rest []string
	for n := range names {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func compareScenario(label, scenario string, base, next *results.File, o Options) Row {
	t := o.ThresholdFor(scenario)
	row := Row{Kernel: label, Scenario: scenario, Threshold: t}
	row.Base, row.New = side(base, scenario, o.Metric), side(next, scenario, o.Metric)
	var notes []string
	if t != o.Threshold {
		notes = append(notes, "threshold ±"+pct(t))
	}
	for _, s := range []*Side{row.Base, row.New} {
		if len(s.Excluded) > 0 {
			notes = append(notes, fmt.Sprintf("left out %s boot %s (coarse clock)", s.Kernel, ints(s.Excluded)))
		}
	}
	switch {
	case row.Base.Status == string(Missing) || row.New.Status == string(Missing):
		row.Verdict = Missing
		which := "base"
		if row.New.Status == string(Missing) {
			which = "new"
		}
		notes = append(notes, "not run in "+which)
	case row.Base.Status == results.StatusUnsupported || row.New.Status == results.StatusUnsupported:
		row.Verdict = Unsupported
		notes = append(notes, firstNonEmpty(row.New.Reason, row.Base.Reason))
	case row.Base.Status == results.StatusFailed || row.New.Status == results.StatusFailed:
		row.Verdict = Failed
		which, reason := "new", row.New.Reason
		if row.Base.Status == results.StatusFailed {
			which, reason = "base", row.Base.Reason
		}
		notes = append(notes, "failed in "+which+": "+reason)
	default:
		notes = append(notes, calibrateSides(scenario, row.Base, row.New, o.Calibrate))
		v, boot, note := stats.Decide(row.Base.groups, row.New.groups, t, o.Rule)
		if note == stats.NotSignificant {
			spread := stats.PairSpread(row.Base.groups, row.New.groups)
			if d := stats.MinDetectable(spread, len(row.Base.groups), len(row.New.groups), t, o.Alpha); !math.IsInf(d, 1) {
				row.Detectable = d
				unit := "boots"
				if row.Base.iterations || row.New.iterations {
					unit = "replicates"
				}
				note = fmt.Sprintf("not significant, not ruled out: at this spread (%.2f) %d+%d %s find steps of %s or more",
					spread, len(row.Base.groups), len(row.New.groups), unit, SignedPct(d))
			}
		}
		pooled := stats.Pooled(row.Base.groups, row.New.groups, o.Rule)
		row.Verdict, row.Boot, row.Pooled = v, &boot, &pooled
		if note != "" {
			notes = append(notes, note)
		}
	}
	row.Note = strings.Join(nonEmptyStrings(notes), "; ")
	return row
}

func nonEmptyStrings(s []string) []string {
	return slices.DeleteFunc(s, func(x string) bool { return strings.TrimSpace(x) == "" })
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// ErrNoResults is returned for a path that holds no result files.
var ErrNoResults = errors.New("no coldstart result files")

// ErrClocksDiffer means two runs were measured on different guest clocks
// (wall and virtual), whose timings cannot be compared.
var ErrClocksDiffer = errors.New("runs measured on different clocks")

// Load reads a result file, or every result file (*.json) in a run or
// baselines directory, sorted by kernel version.
func Load(path string) ([]*results.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var paths []string
	if st.IsDir() {
		paths, err = filepath.Glob(filepath.Join(path, "*.json"))
		if err != nil {
			return nil, err
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("%s: %w (*.json)", path, ErrNoResults)
		}
	} else {
		paths = []string{path}
	}
	var files []*results.File
	seen := map[string]string{}
	for _, p := range paths {
		f, err := results.Read(p)
		if err != nil {
			return nil, err
		}
		if f.Kernel.Name == "" {
			return nil, fmt.Errorf("%s: result file names no kernel", p)
		}
		if prev, ok := seen[f.Kernel.Name]; ok {
			return nil, fmt.Errorf("%s and %s both hold kernel %s", prev, p, f.Kernel.Name)
		}
		seen[f.Kernel.Name] = p
		files = append(files, f)
	}
	SortByVersion(files)
	return files, nil
}

// SortByVersion orders files by kernel version (version.Compare: 5.10
// before 6.1 before 6.12, 7.3-rc7 before 7.3), then by name.
func SortByVersion(files []*results.File) {
	slices.SortStableFunc(files, func(a, b *results.File) int {
		if c := version.Compare(versionOf(a), versionOf(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.Kernel.Name, b.Kernel.Name)
	})
}

func versionOf(f *results.File) string {
	return firstNonEmpty(f.Kernel.Version, f.Kernel.Release, f.Kernel.Name)
}

// Compare loads BASE and NEW (result files or directories of them) and
// compares them. Kernels are matched by name; when both are single files
// they are compared whatever their names (two kernels side by side).
func Compare(basePath, newPath string, o Options) (*Report, error) {
	if o.Metric != "wall" && o.Metric != "op" {
		return nil, fmt.Errorf("metric %q: want wall or op", o.Metric)
	}
	base, err := Load(basePath)
	if err != nil {
		return nil, err
	}
	next, err := Load(newPath)
	if err != nil {
		return nil, err
	}
	r := &Report{Base: basePath, New: newPath, Metric: o.Metric, Alpha: o.Alpha, Level: o.Level, BaseFiles: base, NewFiles: next}
	baseSt, _ := os.Stat(basePath)
	newSt, _ := os.Stat(newPath)
	for _, b := range base {
		for _, n := range next {
			if b.Plan.ClockName() != n.Plan.ClockName() {
				return nil, fmt.Errorf("%w: %s (%s) ran on the %s clock and %s (%s) on the %s clock: run both with the same --clock",
					ErrClocksDiffer, b.Kernel.Name, basePath, b.Plan.ClockName(), n.Kernel.Name, newPath, n.Plan.ClockName())
			}
		}
	}
	if !baseSt.IsDir() && !newSt.IsDir() {
		r.Rows, r.Notes, r.Alpha = comparePair(base[0], next[0], o)
		Gate(r, GateInput{Pairs: []Pair{{base[0], next[0]}}}, o)
		return r, nil
	}
	var in GateInput
	byName := map[string]*results.File{}
	for _, f := range base {
		byName[f.Kernel.Name] = f
	}
	matched := 0
	alphas := map[float64]bool{}
	for _, f := range next {
		b, ok := byName[f.Kernel.Name]
		if !ok {
			in.OnlyNew = append(in.OnlyNew, f)
			continue
		}
		in.Pairs = append(in.Pairs, Pair{b, f})
		matched++
		delete(byName, f.Kernel.Name)
		rows, notes, alpha := comparePair(b, f, o)
		r.Rows = append(r.Rows, rows...)
		r.Notes = append(r.Notes, notes...)
		alphas[alpha] = true
	}
	for _, f := range base {
		if _, ok := byName[f.Kernel.Name]; ok {
			in.OnlyBase = append(in.OnlyBase, f)
		}
	}
	if matched == 0 {
		return nil, fmt.Errorf("no kernel of %s has a counterpart in %s", newPath, basePath)
	}
	if len(alphas) == 1 {
		for a := range alphas {
			r.Alpha = a // every pair at the same level: the header says which
		}
	}
	Gate(r, in, o)
	return r, nil
}

// comparePair compares one kernel's run with its base at the level the
// run was made for (adaptiveOptions), and returns the rows, the notes on
// the pair and that level.
func comparePair(base, next *results.File, o Options) ([]Row, []string, float64) {
	po, note := adaptiveOptions(next, o)
	notes := append(nonEmptyStrings([]string{note}), fileNotes(base, next, o)...)
	return CompareFiles(base, next, po), notes, po.Alpha
}

// adaptiveOptions returns the options to compare next with: a run whose
// boots were added while its verdicts were unknown (matrix --adaptive) was
// looked at after every boot, so its verdicts need the stricter level
// the run itself used (stats.AdaptiveAlpha), or a second look with the plain
// level would call changes the run did not. The note says so.
func adaptiveOptions(next *results.File, o Options) (Options, string) {
	p := next.Plan
	if p.MaxBoots <= p.Boots {
		return o, ""
	}
	a := stats.AdaptiveAlpha(o.Alpha, p.Boots, p.MaxBoots)
	note := fmt.Sprintf("%s: an adaptive run (%d boots, up to %d), compared at α = %g a look, as it was run (overall %g)", next.Kernel.Name, p.Boots, p.MaxBoots, a, o.Alpha)
	o.Alpha = a
	return o, note
}

func fileNotes(base, next *results.File, o Options) []string {
	// Incomplete runs and differing machines are the gate's (gate.go).
	var n []string
	if note := calibrationNote(base, next, o); note != "" {
		n = append(n, note)
	}
	n = append(n, replicateNotes(base, next, o.Metric)...)
	return n
}

func pct(f float64) string {
	return strconv.FormatFloat(f*100, 'f', -1, 64) + "%"
}

// SignedPct writes a ratio as a signed whole percentage: 1.45 is "+45%".
func SignedPct(ratio float64) string {
	return fmt.Sprintf("%+.0f%%", (ratio-1)*100)
}
