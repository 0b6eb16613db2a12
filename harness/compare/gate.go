package compare

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"coldstart/harness/results"
	"coldstart/stats"
)

// The gate: a comparison passes only when everything it was meant to
// compare was compared. It fails closed:
//
//   - Refused: the two sides cannot be compared at all: the accelerators
//     differ, or (without Options.AnyHost) the machine classes differ
//     (package machine).
//   - Broken: a scenario that ran on the base fails, or is unsupported, on
//     the new side: a regression, however the timings compare.
//   - Gaps: what is missing: a scenario on one side only, unsupported or
//     failed on the base only, without usable boots, an incomplete run,
//     a kernel on one side only.
//
// Report.GateErr turns them into the error the commands exit with:
// ErrRefused or ErrGaps (exit 2), ErrRegression (exit 1).

// Finding is one thing the gate found.
type Finding struct {
	Kernel   string `json:"kernel"`
	Scenario string `json:"scenario,omitempty"`
	What     string `json:"what"`
}

func (f Finding) String() string {
	if f.Scenario == "" {
		return f.Kernel + ": " + f.What
	}
	return f.Scenario + " on " + f.Kernel + ": " + f.What
}

// Pair is one kernel's base and new result files.
type Pair struct{ Base, New *results.File }

// GateInput is what a comparison matched, for Gate.
type GateInput struct {
	Pairs []Pair
	// OnlyBase and OnlyNew are kernels found on one side only.
	OnlyBase, OnlyNew []*results.File
	// Planned makes a scenario that the new run's plan did not ask for
	// (matrix --scenarios x,y) a warning when the base has it, not a gap:
	// the run was told to leave it out.
	Planned bool
}

// Errors of Report.GateErr.
var (
	ErrRefused    = errors.New("comparison refused")
	ErrGaps       = errors.New("comparison incomplete")
	ErrRegression = errors.New("regressed")
)

// Gate fills r's Refused, Broken, Gaps and Warnings from its rows and the
// files they came from. compare.Compare, ci and matrix all call it.
func Gate(r *Report, in GateInput, o Options) {
	byLabel := map[string]Pair{}
	for _, p := range in.Pairs {
		byLabel[pairLabel(p.Base, p.New)] = p
		gateFiles(r, p, o)
	}
	for _, row := range r.Rows {
		gateRow(r, row, byLabel[row.Kernel], in.Planned)
	}
	for _, f := range in.OnlyBase {
		r.Gaps = append(r.Gaps, Finding{Kernel: f.Kernel.Name, What: "in the base but not in the new run"})
	}
	for _, f := range in.OnlyNew {
		r.Gaps = append(r.Gaps, Finding{Kernel: f.Kernel.Name, What: "in the new run but not in the base: nothing to compare with"})
	}
}

// pairLabel is the kernel label of a pair's rows (see CompareFiles).
func pairLabel(base, next *results.File) string {
	if base.Kernel.Name != next.Kernel.Name {
		return base.Kernel.Name + " → " + next.Kernel.Name
	}
	return next.Kernel.Name
}

func gateFiles(r *Report, p Pair, o Options) {
	label := pairLabel(p.Base, p.New)
	for _, s := range []struct {
		f    *results.File
		side string
	}{{p.Base, "base"}, {p.New, "new"}} {
		if !s.f.Complete {
			r.Gaps = append(r.Gaps, Finding{Kernel: label, What: fmt.Sprintf("the %s run (%s, started %s) is incomplete: boots are missing or failed; finish it with coldstart matrix --resume",
				s.side, s.f.Kernel.Name, s.f.Started.Format("2006-01-02 15:04"))})
		}
	}
	refused, warnings := MachineGate(p.Base, p.New, "base", "new", o.AnyHost)
	if refused != "" {
		r.Refused = append(r.Refused, Finding{Kernel: label, What: refused})
	}
	for _, w := range warnings {
		r.Warnings = append(r.Warnings, label+": "+w)
	}
}

// MachineGate is the gate's rule for the machines two files ran on
// (package machine): refused says why they cannot be compared ("" when
// they can): the accelerators differ, or the machine classes differ and
// anyHost is false. warnings are the lesser differences, the classes
// compared because of anyHost, and files without a fingerprint. baseName
// and newName name the two sides in the text.
func MachineGate(base, next *results.File, baseName, newName string, anyHost bool) (refused string, warnings []string) {
	d := results.CompareMachines(base, next, baseName, newName)
	switch {
	case d.Accel:
		refused = "the accelerators differ (" + strings.Join(d.Class, "; ") +
			"): KVM and TCG timings differ by factors; run both on the same accelerator (--accel)"
	case len(d.Class) > 0 && !anyHost:
		refused = "measured on different machine classes (" + strings.Join(d.Class, "; ") +
			"); record a baseline on this machine, or pass --any-host to compare anyway"
	case len(d.Class) > 0:
		warnings = append(warnings, "different machine classes, compared because of --any-host: "+strings.Join(d.Class, "; "))
	}
	if len(d.Other) > 0 {
		warnings = append(warnings, "same machine class, but "+strings.Join(d.Other, "; "))
	}
	return refused, append(warnings, d.Unknown...)
}

func gateRow(r *Report, row Row, p Pair, planned bool) {
	if row.Base == nil || row.New == nil {
		return
	}
	f := Finding{Kernel: row.Kernel, Scenario: row.Scenario}
	gap := func(what string) { f.What = what; r.Gaps = append(r.Gaps, f) }
	broken := func(what string) { f.What = what; r.Broken = append(r.Broken, f) }
	bs, ns := row.Base.Status, row.New.Status
	switch {
	case bs == string(Missing):
		gap("not in the base: nothing to compare with")
	case ns == string(Missing):
		if planned && p.New != nil && !slices.Contains(p.New.Plan.Scenarios, row.Scenario) {
			f.What = "not compared: in the base, but this run did not ask for it"
			r.Warnings = append(r.Warnings, f.String())
			return
		}
		gap("in the base but not in the new run")
	case bs == results.StatusFailed:
		gap("failed in the base, so nothing to compare with: " + row.Base.Reason)
	case bs == results.StatusUnsupported && ns == results.StatusUnsupported:
		// A fact about both kernels.
	case bs == results.StatusUnsupported:
		gap(fmt.Sprintf("unsupported in the base only (%s), %s in the new run: nothing to compare with", row.Base.Reason, ns))
	case ns == results.StatusFailed:
		broken("ran in the base, fails in the new run: " + row.New.Reason)
	case ns == results.StatusUnsupported:
		broken("ran in the base, unsupported in the new run: " + row.New.Reason)
	case row.Base.Boots == 0 || row.New.Boots == 0:
		gap(fmt.Sprintf("no usable boots (%d in the base, %d in the new run; boots with a coarse clock are left out)", row.Base.Boots, row.New.Boots))
	}
}

// GateErr is nil when r passes the gate, else an error naming what failed
// it: wrapping ErrRefused when the sides cannot be compared, else
// ErrRegression when a scenario regressed (by its verdict, or broken:
// see Gate), else ErrGaps when something is missing. Gaps and warnings
// are listed with the regressions, so one message says everything.
func (r *Report) GateErr() error {
	list := func(fs []Finding) string {
		s := make([]string, len(fs))
		for i, f := range fs {
			s[i] = f.String()
		}
		return strings.Join(s, "; ")
	}
	var regressed []string
	for _, row := range r.Rows {
		if row.Verdict == stats.Regressed {
			regressed = append(regressed, row.Scenario+" on "+row.Kernel)
		}
	}
	for _, f := range r.Broken {
		regressed = append(regressed, f.String())
	}
	gaps := ""
	if len(r.Gaps) > 0 {
		gaps = fmt.Sprintf("; and %d gap(s): %s", len(r.Gaps), list(r.Gaps))
	}
	switch {
	case len(r.Refused) > 0:
		return fmt.Errorf("%w: %s", ErrRefused, list(r.Refused))
	case len(regressed) > 0:
		return fmt.Errorf("%w: %s%s", ErrRegression, strings.Join(regressed, ", "), gaps)
	case len(r.Gaps) > 0:
		return fmt.Errorf("%w, so it cannot pass: %s", ErrGaps, list(r.Gaps))
	}
	return nil
}

// gateLines lists the gate's findings for people, one a line, worst
// first.
func gateLines(r *Report) []string {
	var out []string
	for _, f := range r.Refused {
		out = append(out, "REFUSED: "+f.String())
	}
	for _, f := range r.Broken {
		out = append(out, "REGRESSED: "+f.String())
	}
	for _, f := range r.Gaps {
		out = append(out, "gap: "+f.String())
	}
	for _, w := range r.Warnings {
		out = append(out, "warning: "+w)
	}
	return out
}

// gateStatus is the gate's one-line status, "" when it passes.
func gateStatus(r *Report) string {
	switch {
	case len(r.Refused) > 0:
		return "comparison refused (exit 2)"
	case len(r.Broken) > 0 || r.Count()[stats.Regressed] > 0:
		return "" // the regressions say it
	case len(r.Gaps) > 0:
		return fmt.Sprintf("gate failed: %d gap(s), nothing may pass (exit 2)", len(r.Gaps))
	}
	return ""
}

// writeGateText appends the gate's findings to a text report.
func writeGateText(w io.Writer, r *Report) {
	if s := gateStatus(r); s != "" {
		fmt.Fprintln(w, s)
	}
	for _, l := range gateLines(r) {
		fmt.Fprintln(w, l)
	}
}

// writeGateMarkdown appends them to a markdown report.
func writeGateMarkdown(w io.Writer, r *Report) {
	lines := gateLines(r)
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w)
	if s := gateStatus(r); s != "" {
		fmt.Fprintf(w, "**%s**\n\n", s)
	}
	for _, l := range lines {
		fmt.Fprintf(w, "- %s\n", mdEscaper.Replace(l))
	}
}

// addGateJUnit adds a "gate" suite to a JUnit report: a refusal or a gap
// is an error, a broken scenario a failure, so that a CI that reads only
// the JUnit file fails closed too (its rows alone would show a scenario
// turned unsupported as skipped).
func addGateJUnit(out *junitSuites, r *Report) {
	if len(r.Refused)+len(r.Broken)+len(r.Gaps) == 0 {
		return
	}
	s := junitSuite{Name: "gate", Time: "0"}
	add := func(f Finding, typ string, failure bool) {
		name := f.Kernel
		if f.Scenario != "" {
			name += "/" + f.Scenario
		}
		c := junitCase{Classname: "coldstart.gate", Name: typ + " " + name, Time: "0"}
		m := &junitMessage{Message: f.String(), Type: typ, Text: f.String()}
		if failure {
			c.Failure = m
			s.Failures++
		} else {
			c.Error = m
			s.Errors++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for _, f := range r.Refused {
		add(f, "refused", false)
	}
	for _, f := range r.Broken {
		add(f, "broken", true)
	}
	for _, f := range r.Gaps {
		add(f, "gap", false)
	}
	out.Tests += s.Tests
	out.Failures += s.Failures
	out.Errors += s.Errors
	out.Suites = append(out.Suites, s)
}
