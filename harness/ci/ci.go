// Package ci tests a kernel patch against its base: it builds the base and
// the patched kernel (a head ref, or a directory of patches applied with
// git am onto the base in a private clone), boots them alternately (base,
// head, base, head, ...) so that drift of the machine falls on both alike,
// compares them with harness/compare (stats' verdict rule) and writes
// markdown, text and JUnit reports.
//
// The outcome is a Result whose Regressed says whether any scenario
// regressed, and whose Report's GateErr whether the comparison passes
// (compare.Gate: a boot that failed on either side fails it); a kernel that cannot be built or booted is an *InfraError
// carrying the tail of its log.
//
// With Explain, every boot also traces a few iterations per scenario in
// the kernel after the timed ones, and the reports end with where each
// regressed or improved scenario's time went (package explain).
//
// Environment: none directly (see harness/kernels and harness/qemu).
package ci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"coldstart/harness/compare"
	"coldstart/harness/matrix"
	"coldstart/harness/results"
	"coldstart/harness/tree"
	"coldstart/internal/atomicfile"
)

// Options configure a ci run.
type Options struct {
	Work *tree.Workspace
	Base string // ref of the user's repository
	// Head is a ref, or Patches a directory of patches for git am; one of
	// the two.
	Head, Patches string
	Boots         int
	Compare       compare.Options
	Builder       tree.Builder
	Measurer      tree.Measurer
	// Explain, when above 0, has every boot trace that many iterations
	// per scenario after the timed ones, and the reports explain the
	// regressed and improved scenarios. The Measurer must be a
	// tree.Tracer.
	Explain  int
	Out      string // reports, build logs, result files, console logs
	Progress io.Writer
}

// Result is a finished comparison.
type Result struct {
	Base, Head       string // commits
	BaseFile         *results.File
	HeadFile         *results.File
	Report           *compare.Report
	Markdown, JUnit  string // report paths
	Text             string
	BaseLog, HeadLog string // build logs
	// Explained are the regressed and improved scenarios' explanations
	// (Options.Explain).
	Explained []compare.Explanation
	explained bool
}

// Regressed reports whether any scenario regressed.
func (r *Result) Regressed() bool { return r.Report.Regressed() }

// ErrInfra is wrapped by *InfraError.
var ErrInfra = errors.New("could not build or boot")

// InfraError is a kernel that could not be built, a patch series that did
// not apply, or boots that did not work; Tail is the end of the log.
type InfraError struct {
	Stage string // "apply patches", "build base", "build head", "boot"
	Log   string
	Tail  string
	Err   error
}

func (e *InfraError) Error() string {
	s := fmt.Sprintf("%v: %s: %v", ErrInfra, e.Stage, e.Err)
	if e.Log != "" {
		s += "\nlog: " + e.Log
	}
	if e.Tail != "" {
		s += "\nlast lines:\n" + e.Tail
	}
	return s
}

func (e *InfraError) Unwrap() error { return ErrInfra }

// Run builds, boots and compares.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Work == nil || o.Builder == nil || o.Measurer == nil || o.Out == "" || o.Boots < 1 {
		return nil, errors.New("ci: Work, Builder, Measurer, Out and Boots ≥ 1 are required")
	}
	if (o.Head == "") == (o.Patches == "") {
		return nil, errors.New("ci: give a head ref or a patches directory, not both or neither")
	}
	if o.Compare.Metric == "" {
		o.Compare = compare.DefaultOptions()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Explain > 0 {
		m, err := tree.Traced(o.Measurer, o.Explain)
		if err != nil {
			return nil, fmt.Errorf("ci: explain: %w", err)
		}
		o.Measurer = m
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	w := o.Work
	r := &Result{BaseLog: filepath.Join(o.Out, "base.build.log"), HeadLog: filepath.Join(o.Out, "head.build.log")}
	var err error
	if r.Base, err = w.Resolve(ctx, o.Base); err != nil {
		return nil, err
	}
	if o.Head != "" {
		if r.Head, err = w.Resolve(ctx, o.Head); err != nil {
			return nil, err
		}
	} else if r.Head, err = w.Apply(ctx, r.Base, o.Patches); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &InfraError{Stage: "apply patches", Err: err}
	}
	fmt.Fprintf(o.Progress, "base %.12s %s\nhead %.12s %s\n", r.Base, w.Subject(ctx, r.Base), r.Head, w.Subject(ctx, r.Head))

	var targets []matrix.Target
	for _, side := range []struct{ name, commit, log string }{{"base", r.Base, r.BaseLog}, {"head", r.Head, r.HeadLog}} {
		im, err := tree.BuildLogged(ctx, o.Builder, o.Work, side.commit, side.log, o.Progress)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			data, _ := os.ReadFile(side.log)
			return nil, &InfraError{Stage: "build " + side.name, Log: side.log, Tail: tree.Tail(string(data), 20), Err: err}
		}
		targets = append(targets, tree.Target(side.name, side.commit, im))
	}

	fmt.Fprintf(o.Progress, "booting base and head alternately, %d boots each\n", o.Boots)
	files, err := o.Measurer.Measure(ctx, targets, o.Boots, filepath.Join(o.Out, "run"))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &InfraError{Stage: "boot", Log: filepath.Join(o.Out, "run"), Tail: consoleTail(files), Err: err}
	}
	r.BaseFile, r.HeadFile = files[0], files[1]
	r.Report = &compare.Report{
		Base:   fmt.Sprintf("base %.12s (%s)", r.Base, w.Subject(ctx, r.Base)),
		New:    fmt.Sprintf("head %.12s (%s)", r.Head, w.Subject(ctx, r.Head)),
		Metric: o.Compare.Metric, Alpha: o.Compare.Alpha, Level: o.Compare.Level,
		Rows:      compare.CompareFiles(r.BaseFile, r.HeadFile, o.Compare),
		BaseFiles: []*results.File{r.BaseFile}, NewFiles: []*results.File{r.HeadFile},
	}
	for _, f := range files {
		if !f.Complete {
			r.Report.Notes = append(r.Report.Notes, f.Kernel.Name+": some boots failed; see the console logs in "+filepath.Join(o.Out, "run"))
		}
	}
	// Fail closed: an incomplete side, a scenario on one side only or
	// broken on the head (compare.Gate).
	compare.Gate(r.Report, compare.GateInput{Pairs: []compare.Pair{{Base: r.BaseFile, New: r.HeadFile}}}, o.Compare)
	if o.Explain > 0 {
		r.explained = true
		r.Explained = compare.Explain(r.Report, compare.ExplainOptions{
			Hint: "the traced iterations sent none: see the console logs in " + filepath.Join(o.Out, "run")})
	}
	r.Markdown, r.JUnit, r.Text = filepath.Join(o.Out, "report.md"), filepath.Join(o.Out, "junit.xml"), filepath.Join(o.Out, "report.txt")
	for path, format := range map[string]string{r.Markdown: "markdown", r.JUnit: "junit", r.Text: "text"} {
		if err := atomicfile.Write(path, 0o644, func(wr io.Writer) error { return r.Write(wr, format) }); err != nil {
			return r, err
		}
	}
	return r, nil
}

// Write writes the report in a compare format; markdown and text end with
// the explanations when Options.Explain asked for them.
func (r *Result) Write(w io.Writer, format string) error {
	if err := compare.Write(w, format, r.Report); err != nil {
		return err
	}
	switch {
	case !r.explained:
		return nil
	case format == "markdown":
		return compare.WriteExplanationsMarkdown(w, r.Explained, 0)
	case format == "text":
		return compare.WriteExplanationsText(w, r.Explained, 0)
	}
	return nil
}

// consoleTail is the end of the console log of the last failed boot.
func consoleTail(files []*results.File) string {
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		if f == nil {
			continue
		}
		for j := len(f.Boots) - 1; j >= 0; j-- {
			b := f.Boots[j]
			if b.Status == results.StatusOK || b.ConsoleLog == "" {
				continue
			}
			data, err := os.ReadFile(b.ConsoleLog)
			if err != nil {
				continue
			}
			return fmt.Sprintf("%s boot %d (%s):\n%s", f.Kernel.Name, b.Index, b.ConsoleLog, tree.Tail(string(data), 20))
		}
	}
	return ""
}
