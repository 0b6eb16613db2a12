// Package compare turns two sets of coldstart result files into verdicts,
// one per kernel and scenario, and writes them for people (text, markdown,
// HTML) and for machines (JSON, JUnit, Go benchmark format for benchstat).
//
// # The verdict rule
//
// Each boot is one unit of replication: a scenario's samples are grouped by
// boot and each boot contributes its median. With B and B' such per-boot
// medians on the two sides:
//
//   - p = min(p of Mann-Whitney U, p of Kolmogorov-Smirnov) on the per-boot
//     medians, as Chromium's Pinpoint does;
//   - ratio = median of the new per-boot medians / median of the base ones,
//     with a 95% percentile-bootstrap interval that resamples whole boots
//     (the cluster bootstrap);
//   - regressed when p ≤ α (0.01) and the interval lies wholly above 1+t,
//     improved when p ≤ α and it lies wholly below 1-t, where t is the
//     practical threshold (5% unless overridden for the scenario);
//   - same when the interval lies wholly inside [1-t, 1+t];
//   - unknown otherwise: more boots are needed. With n and m boots no exact
//     rank test can give p below 2/C(n+m, n), so with fewer than five boots
//     a side nothing is ever called regressed; the note says so.
//
// # Adding boots while unknown
//
// Looking again after every added boot and stopping at the first verdict
// gives chance more than one try: with α = 0.01 at each look from 5 to 15
// new boots against a 20-boot baseline, a netns-like bimodal scenario was
// called changed in 4.5% of 2,000 same-distribution comparisons.
// AdaptiveAlpha gives the level to use at every look instead (a constant
// boundary in the manner of Pocock's): about 0.0011 for 5 to 15 boots at an
// overall 0.01, which brought that down to 1.0% (0.6% regressed, 0.4%
// improved) and still calls a 20% step regressed 95.5% of the time.
//
// The pooled samples (all iterations of all boots) are tested too and shown
// as a second view, but never decide: boot-to-boot differences of 30-50%
// make pooled p-values far too small.
//
// Boots whose guest clock fell back to ticks (clock_coarse) are left out,
// with a note.
//
// Explain runs package explain on the rows that regressed or improved,
// between their two result files, and Adjacent on kernels next to each
// other in version order; the HTML page embeds their tables and icicle
// charts when the files carry kernel traces (matrix --trace N). Scenarios that are unsupported or failed on either side are
// reported as such, never with a verdict.
//
// Environment: none.
package compare

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"coldstart/harness/results"
	"coldstart/stats"
)

// Verdict is the outcome for one kernel and scenario.
type Verdict string

// Verdicts. The first four come from the statistics; the others say why
// there are none.
const (
	Regressed   Verdict = "regressed"
	Improved    Verdict = "improved"
	Same        Verdict = "same"
	Unknown     Verdict = "unknown"
	Unsupported Verdict = "unsupported" // the kernel cannot run the scenario
	Failed      Verdict = "failed"      // the scenario failed on one side
	Missing     Verdict = "missing"     // present on one side only
)

// Options tune the comparison. Start from DefaultOptions.
type Options struct {
	// Threshold is the practical threshold t as a fraction (0.05 = 5%).
	Threshold float64
	// Thresholds overrides Threshold per scenario.
	Thresholds map[string]float64
	// Alpha is the significance level for p = min(MWU, KS).
	Alpha float64
	// Level is the confidence level of the intervals.
	Level float64
	// Rounds is the number of bootstrap resamples; Seed makes them
	// reproducible.
	Rounds int
	Seed   uint64
	// Metric is "wall" (wall_ns, the whole cycle) or "op" (op_ns, the
	// system call alone).
	Metric string
	// Calibrate says when each boot's samples are divided by its guest
	// speed (see Calibrate) before comparing: CalibrateAuto (the default)
	// when the two sides' guests ran at clearly different speeds,
	// CalibrateOn always, CalibrateOff never.
	Calibrate string
}

// DefaultOptions: 5% threshold, α = 0.01, 95% intervals, wall time.
func DefaultOptions() Options {
	return Options{Threshold: 0.05, Alpha: 0.01, Level: 0.95, Rounds: stats.DefaultRounds, Seed: 1, Metric: "wall", Calibrate: CalibrateAuto}
}

// ThresholdFor is the practical threshold for a scenario.
func (o Options) ThresholdFor(scenario string) float64 {
	if t, ok := o.Thresholds[scenario]; ok {
		return t
	}
	return o.Threshold
}

// MinBoots is the smallest number of boots a side (both sides equal) with
// which an exact rank test can reach p ≤ alpha.
func MinBoots(alpha float64) int {
	for n := 1; n < 100; n++ {
		if stats.MinExactP(n, n) <= alpha {
			return n
		}
	}
	return 100
}

// AdaptiveAlpha is the significance level to use at each look when the new
// side of a comparison is looked at after every boot from first to last,
// boots being added while the verdict is unknown, so that the chance of a
// false verdict over all the looks is alpha rather than alpha per look.
//
// It is the constant (Pocock-style) boundary for a statistic that is a
// standardised sum of the new boots, with the base side taken as exact:
// that errs on the strict side for small baselines (with a 5-boot baseline
// the same simulation allows 0.0037 instead of 0.0024). Since p is the
// smaller of two tests' p-values, the boundary is found for alpha/2 (the
// Bonferroni bound for two tests): without that, bimodal scenarios were
// still called changed about 1.5% of the time. It is found by a seeded
// simulation, so every run gets the same level; with one look it is alpha,
// the rule's own level.
func AdaptiveAlpha(alpha float64, first, last int) float64 {
	if first < 1 {
		first = 1
	}
	if last <= first {
		return alpha
	}
	alpha /= 2 // p = min(p MWU, p KS)
	const draws = 100000
	rng := rand.New(rand.NewPCG(5, 15))
	peaks := make([]float64, draws)
	for d := range peaks {
		var sum, peak float64
		for n := 1; n <= last; n++ {
			sum += rng.NormFloat64()
			if n >= first {
				peak = math.Max(peak, math.Abs(sum)/math.Sqrt(float64(n)))
			}
		}
		peaks[d] = peak
	}
	z := stats.Quantile(peaks, 1-alpha)
	return floor2(math.Erfc(z / math.Sqrt2)) // two-sided p of z
}

// floor2 rounds p down to two significant digits, for a level people can
// read (0.0011, not 0.0011312...) that is no looser than the one computed.
func floor2(p float64) float64 {
	exp := int(math.Floor(math.Log10(p))) - 1
	digits := math.Floor(p / math.Pow(10, float64(exp)))
	v, err := strconv.ParseFloat(fmt.Sprintf("%ge%d", digits, exp), 64)
	if err != nil {
		return p
	}
	return v
}

// View is one way of looking at the difference: per boot or pooled.
type View struct {
	Ratio float64        `json:"ratio"` // new median / base median
	CI    stats.Interval `json:"ci"`
	P     float64        `json:"p"` // min(PMWU, PKS)
	PMWU  float64        `json:"p_mwu"`
	PKS   float64        `json:"p_ks"`
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
	// guest speed (see Calibrate); the figures above are then in the
	// base side's speed.
	Calibrated bool `json:"calibrated,omitempty"`

	groups [][]float64
	boots  []int
	file   *results.File
}

// Row is the comparison of one scenario on one kernel (pair).
type Row struct {
	Kernel    string  `json:"kernel"`
	Scenario  string  `json:"scenario"`
	Verdict   Verdict `json:"verdict"`
	Note      string  `json:"note,omitempty"`
	Threshold float64 `json:"threshold"`
	Base      *Side   `json:"base,omitempty"`
	New       *Side   `json:"new,omitempty"`
	Boot      *View   `json:"per_boot,omitempty"` // the view that decides
	Pooled    *View   `json:"pooled,omitempty"`   // second view
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
	// NewFiles and BaseFiles are the inputs, for the charts.
	NewFiles  []*results.File `json:"-"`
	BaseFiles []*results.File `json:"-"`
}

// Regressed reports whether any row regressed.
func (r *Report) Regressed() bool {
	for _, row := range r.Rows {
		if row.Verdict == Regressed {
			return true
		}
	}
	return false
}

// Count returns how many rows have each verdict.
func (r *Report) Count() map[Verdict]int {
	c := map[Verdict]int{}
	for _, row := range r.Rows {
		c[row.Verdict]++
	}
	return c
}

// Decide applies the verdict rule to samples grouped by boot and returns
// the verdict, the per-boot view it rests on, and a note when unknown.
func Decide(base, next [][]float64, threshold float64, o Options) (Verdict, View, string) {
	bm, nm := groupMedians(base), groupMedians(next)
	var boot View
	if len(bm) == 0 || len(nm) == 0 {
		return Unknown, View{Ratio: math.NaN(), CI: stats.Interval{Lo: math.NaN(), Hi: math.NaN()}, P: 1, PMWU: 1, PKS: 1}, "no usable boots"
	}
	boot.PMWU = pOf(stats.MannWhitneyU(bm, nm))
	boot.PKS = pOf(stats.KolmogorovSmirnov(bm, nm))
	boot.P = math.Min(boot.PMWU, boot.PKS)
	boot.Ratio = stats.Median(nm) / stats.Median(bm)
	// The cluster bootstrap: resample whole boots, each represented by its
	// median. Resampling the samples within boots as well (GroupRatioCI)
	// counts the within-boot spread twice, since it is already in each
	// boot's median, and widens the interval for nothing.
	boot.CI = stats.RatioCI(bm, nm, o.Level, o.Rounds, o.Seed)

	hi, lo := 1+threshold, 1-threshold
	ci := boot.CI
	switch {
	case boot.P <= o.Alpha && ci.Lo > hi:
		return Regressed, boot, ""
	case boot.P <= o.Alpha && ci.Hi < lo:
		return Improved, boot, ""
	case ci.Lo >= lo && ci.Hi <= hi:
		return Same, boot, ""
	case stats.MinExactP(len(bm), len(nm)) > o.Alpha:
		return Unknown, boot, tooFewBoots(len(bm), len(nm), o.Alpha)
	case boot.P <= o.Alpha:
		return Unknown, boot, fmt.Sprintf("significant, but the interval crosses ±%s; more boots", pct(threshold))
	default:
		return Unknown, boot, notSignificant
	}
}

// notSignificant is Decide's note when the data neither show a change nor
// rule one out.
const notSignificant = "not significant, not ruled out; more boots"

// tooFewBoots says how many boots a comparison that no exact test can
// decide needs: new ones against the base it has, when a practical number
// will do, and the same number a side.
func tooFewBoots(base, next int, alpha float64) string {
	msg := fmt.Sprintf("%d vs %d boots cannot reach p ≤ %g; need ", base, next, alpha)
	for m := next + 1; m <= 100; m++ {
		if stats.MinExactP(base, m) <= alpha {
			return msg + fmt.Sprintf("≥%d new boots against these %d, or ≥%d a side", m, base, MinBoots(alpha))
		}
	}
	return msg + fmt.Sprintf("≥%d a side", MinBoots(alpha))
}

// Pooled is the second view: all samples of all boots, as if independent.
func Pooled(base, next [][]float64, o Options) View {
	pb, pn := flatten(base), flatten(next)
	var v View
	v.PMWU = pOf(stats.MannWhitneyU(pb, pn))
	v.PKS = pOf(stats.KolmogorovSmirnov(pb, pn))
	v.P = math.Min(v.PMWU, v.PKS)
	v.Ratio = stats.Median(pn) / stats.Median(pb)
	v.CI = stats.RatioCI(pb, pn, o.Level, o.Rounds, o.Seed)
	return v
}

func pOf(_, p float64) float64 { return p }

func groupMedians(groups [][]float64) []float64 {
	var m []float64
	for _, g := range groups {
		if len(g) > 0 {
			m = append(m, stats.Median(g))
		}
	}
	return m
}

func flatten(groups [][]float64) []float64 {
	var v []float64
	for _, g := range groups {
		v = append(v, g...)
	}
	return v
}

// Groups returns a scenario's samples grouped by boot, in boot order,
// leaving out boots with a coarse clock; excluded lists those that had
// samples.
func Groups(f *results.File, scenario, metric string) (groups [][]float64, boots []int, excluded []int) {
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
	byBoot := map[int][]float64{}
	for _, s := range sc.Samples {
		v := float64(s.WallNS)
		if metric == "op" {
			v = float64(s.OpNS)
		}
		byBoot[s.Boot] = append(byBoot[s.Boot], v)
	}
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
	s.groups, s.boots, s.Excluded = Groups(f, scenario, metric)
	s.summarize()
	return s
}

func (s *Side) summarize() {
	s.BootMedians = groupMedians(s.groups)
	s.Boots = len(s.BootMedians)
	s.Median = stats.Median(s.BootMedians)
	s.Pooled = stats.Summarize(flatten(s.groups))
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
		v, boot, note := Decide(row.Base.groups, row.New.groups, t, o)
		if note == notSignificant {
			spread := PairSpread(row.Base.groups, row.New.groups)
			if d := MinDetectable(spread, len(row.Base.groups), len(row.New.groups), t, o.Alpha); !math.IsInf(d, 1) {
				row.Detectable = d
				note = fmt.Sprintf("not significant, not ruled out: at this spread (%.2f) %d+%d boots find steps of %s or more",
					spread, len(row.Base.groups), len(row.New.groups), SignedPct(d))
			}
		}
		pooled := Pooled(row.Base.groups, row.New.groups, o)
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

// SortByVersion orders files by kernel version (numerically, 5.10 before
// 6.1 before 6.12), then by name.
func SortByVersion(files []*results.File) {
	slices.SortStableFunc(files, func(a, b *results.File) int {
		if c := CompareVersions(versionOf(a), versionOf(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.Kernel.Name, b.Kernel.Name)
	})
}

func versionOf(f *results.File) string {
	return firstNonEmpty(f.Kernel.Version, f.Kernel.Release, f.Kernel.Name)
}

// CompareVersions compares dotted versions numerically, field by field;
// non-numeric runs compare as strings ("7.3-rc7" < "7.3").
func CompareVersions(a, b string) int {
	fa, fb := versionFields(a), versionFields(b)
	for i := 0; i < len(fa) && i < len(fb); i++ {
		x, y := fa[i], fb[i]
		nx, ex := strconv.Atoi(x)
		ny, ey := strconv.Atoi(y)
		switch {
		case ex == nil && ey == nil:
			if c := cmp.Compare(nx, ny); c != 0 {
				return c
			}
		case ex == nil: // number after text: "7.3" > "7.3-rc7"
			return 1
		case ey == nil:
			return -1
		default:
			if c := cmp.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return cmp.Compare(len(fb), len(fa)) // shorter (a release) after its -rc
}

func versionFields(v string) []string {
	var out []string
	cur := ""
	digit := false
	flush := func() {
		if cur != "" {
			out = append(out, cur)
		}
		cur = ""
	}
	for _, r := range v {
		isD := r >= '0' && r <= '9'
		switch {
		case r == '.' || r == '-' || r == '_' || r == '+':
			flush()
		case cur != "" && isD != digit:
			flush()
			cur = string(r)
		default:
			cur += string(r)
		}
		digit = isD
	}
	flush()
	return out
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
	if !baseSt.IsDir() && !newSt.IsDir() {
		r.Rows, r.Notes, r.Alpha = comparePair(base[0], next[0], o)
		return r, nil
	}
	byName := map[string]*results.File{}
	for _, f := range base {
		byName[f.Kernel.Name] = f
	}
	matched := 0
	alphas := map[float64]bool{}
	for _, f := range next {
		b, ok := byName[f.Kernel.Name]
		if !ok {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: no baseline in %s", f.Kernel.Name, basePath))
			continue
		}
		matched++
		delete(byName, f.Kernel.Name)
		rows, notes, alpha := comparePair(b, f, o)
		r.Rows = append(r.Rows, rows...)
		r.Notes = append(r.Notes, notes...)
		alphas[alpha] = true
	}
	for _, f := range base {
		if _, ok := byName[f.Kernel.Name]; ok {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: in %s but not in %s", f.Kernel.Name, basePath, newPath))
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
// the run itself used (AdaptiveAlpha), or a second look with the plain
// level would call changes the run did not. The note says so.
func adaptiveOptions(next *results.File, o Options) (Options, string) {
	p := next.Plan
	if p.MaxBoots <= p.Boots {
		return o, ""
	}
	a := AdaptiveAlpha(o.Alpha, p.Boots, p.MaxBoots)
	note := fmt.Sprintf("%s: an adaptive run (%d boots, up to %d), compared at α = %g a look, as it was run (overall %g)", next.Kernel.Name, p.Boots, p.MaxBoots, a, o.Alpha)
	o.Alpha = a
	return o, note
}

func fileNotes(base, next *results.File, o Options) []string {
	var n []string
	for _, f := range []*results.File{base, next} {
		if !f.Complete {
			n = append(n, fmt.Sprintf("%s (%s): run incomplete", f.Kernel.Name, f.Started.Format("2006-01-02 15:04")))
		}
	}
	if note := calibrationNote(base, next, o); note != "" {
		n = append(n, note)
	}
	if base.Accel != next.Accel && base.Accel != "" && next.Accel != "" {
		n = append(n, fmt.Sprintf("accelerators differ: base %s, new %s; timings are not comparable", base.Accel, next.Accel))
	}
	return n
}

func pct(f float64) string {
	return strconv.FormatFloat(f*100, 'f', -1, 64) + "%"
}

// SignedPct writes a ratio as a signed whole percentage: 1.45 is "+45%".
func SignedPct(ratio float64) string {
	return fmt.Sprintf("%+.0f%%", (ratio-1)*100)
}
