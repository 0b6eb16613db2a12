package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"coldstart/harness/compare"
	"coldstart/internal/atomicfile"
)

// errRegressed makes compare, ci and matrix exit 1 after their report is
// written (see gateError).
var errRegressed = compare.ErrRegression

// compareFlags are shared by compare and report.
type compareFlags struct {
	threshold string
	perScen   string
	metric    string
	seed      uint64
	calibrate string
	anyHost   bool
}

func (cf *compareFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&cf.threshold, "threshold", "5%", "practical threshold: changes inside ±threshold count as the same (5% or 0.05)")
	fs.StringVar(&cf.perScen, "scenario-threshold", "", "per-scenario thresholds, e.g. netns=10%,ipcns=20%")
	fs.StringVar(&cf.metric, "metric", "wall", "wall (the whole cycle, wall_ns) or op (the system call alone, op_ns)")
	fs.Uint64Var(&cf.seed, "seed", 1, "bootstrap seed (results are reproducible for a given seed)")
	fs.BoolVar(&cf.anyHost, "any-host", false, "compare runs measured on different machine classes (CPU model, guest vCPUs or memory; see coldstart machine),\nwith a warning, instead of refusing (exit 2); different accelerators are always refused")
	fs.StringVar(&cf.calibrate, "calibrate", compare.CalibrateAuto, "divide each boot's samples by its guest speed (the agent's calibration loop) before comparing:\nauto when the two sides' guests ran more than 1.2x apart (a loaded host), on always, off never\n(bisect: on or off, auto is off; on a quiet host calibrating adds about as much noise as it takes out)")
}

func (cf *compareFlags) options() (compare.Options, error) {
	o := compare.DefaultOptions()
	t, err := parsePercent(cf.threshold)
	if err != nil {
		return o, usagef("--threshold %q: %v", cf.threshold, err)
	}
	o.Threshold = t
	if cf.perScen != "" {
		o.Thresholds = map[string]float64{}
		for _, kv := range strings.Split(cf.perScen, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return o, usagef("--scenario-threshold %q: want scenario=percent", kv)
			}
			t, err := parsePercent(v)
			if err != nil {
				return o, usagef("--scenario-threshold %q: %v", kv, err)
			}
			o.Thresholds[strings.TrimSpace(k)] = t
		}
	}
	if cf.metric != "wall" && cf.metric != "op" {
		return o, usagef("--metric %q: want wall or op", cf.metric)
	}
	o.Metric = cf.metric
	o.Seed = cf.seed
	if !slices.Contains(compare.CalibrationModes, cf.calibrate) {
		return o, usagef("--calibrate %q: want auto, on or off", cf.calibrate)
	}
	o.Calibrate = cf.calibrate
	o.AnyHost = cf.anyHost
	return o, nil
}

// parsePercent reads "5%" as 0.05 and "0.05" as 0.05.
func parsePercent(s string) (float64, error) {
	s = strings.TrimSpace(s)
	div := 1.0
	if strings.HasSuffix(s, "%") {
		s, div = strings.TrimSuffix(s, "%"), 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	v /= div
	if v < 0 || v >= 1 {
		return 0, fmt.Errorf("want a fraction in [0, 1) or a percentage below 100%%")
	}
	return v, nil
}

// parseInterspersed parses flags that may come after positional arguments
// ("compare BASE NEW --format json"), returning the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		rest := fs.Args()
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// writeOutput writes to --out atomically, or to stdout.
func writeOutput(stdout io.Writer, out string, fill func(io.Writer) error) error {
	if out == "" || out == "-" {
		return fill(stdout)
	}
	var buf bytes.Buffer
	if err := fill(&buf); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return setupError{fmt.Errorf("--out: %w", err)}
	}
	return nil
}

// inputError names the file that could not be read: exit 2.
func inputError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return usagef("cannot read %s: %v", pe.Path, pe.Err)
	}
	return usageError{err}
}

const compareUsage = `usage: coldstart compare BASE NEW [flags]

BASE and NEW are result files or run directories (a baselines directory as BASE);
kernels are matched by name. The comparison fails closed:

  exit 0  every scenario of every kernel was compared and none regressed
  exit 1  a scenario regressed, or ran in BASE and fails or is unsupported in NEW
  exit 2  bad input, or the comparison is refused or incomplete: the accelerators
          or machine classes differ (--any-host compares other classes anyway),
          a kernel or scenario is on one side only, unsupported or failed in
          BASE only, or a run is incomplete; the report names each`

func runCompare(_ context.Context, stdout, stderr io.Writer, args []string) error {
	var cf compareFlags
	fs := newFlagSet("compare", compareUsage, stderr)
	format := fs.String("format", "text", "output format: "+strings.Join(compare.Formats, ", "))
	out := fs.String("out", "", "write the report to this file (atomically) instead of stdout")
	explainRows := fs.Bool("explain", false, "after the verdicts, show where in the kernel each regressed or improved scenario's time went,\nfrom the traces in the result files (matrix --trace N); text, markdown and html\n(html pages embed the regressed ones whenever there are traces)")
	cf.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 2 {
		fs.Usage()
		return usagef("compare takes BASE and NEW, got %d arguments", len(pos))
	}
	if !validFormat(*format) {
		return usagef("--format %q: want one of %s", *format, strings.Join(compare.Formats, ", "))
	}
	if *explainRows && *format != "text" && *format != "markdown" && *format != "html" {
		return usagef("--explain adds to text, markdown and html reports, not %s: run coldstart explain BASE NEW --scenario NAME for one scenario", *format)
	}
	o, err := cf.options()
	if err != nil {
		return err
	}
	r, err := compare.Compare(pos[0], pos[1], o)
	if err != nil {
		return inputError(err)
	}
	write := func(w io.Writer) error { return compare.Write(w, *format, r) }
	if *explainRows {
		write = func(w io.Writer) error { return writeExplained(w, *format, r, compare.ExplainOptions{}) }
	}
	if err := writeOutput(stdout, *out, write); err != nil {
		return err
	}
	if *out != "" && *out != "-" {
		fmt.Fprintf(stderr, "%s (%s written to %s)\n", r.Summary(), *format, *out)
	}
	return gateError(r)
}

// gateError is the error compare, ci and matrix end with once their
// report is written: nil when the comparison passes its gate
// (compare.Gate), errRegressed (exit 1) when a scenario regressed, a
// setupError (exit 2) when it was refused or is incomplete.
func gateError(r *compare.Report) error {
	err := r.GateErr()
	if err == nil || errors.Is(err, compare.ErrRegression) {
		return err
	}
	return setupError{err}
}

// writeExplained writes r in format (text, markdown or html) with the
// explanations of its regressed and improved rows after the verdicts (in
// html, under their scenarios).
func writeExplained(w io.Writer, format string, r *compare.Report, o compare.ExplainOptions) error {
	exps := compare.Explain(r, o)
	switch format {
	case "html":
		p := compare.PageFromReport(r)
		p.Explains = nil // all of them, with the reasons of those without traces
		p.AddExplanations(exps)
		return compare.WriteHTML(w, p)
	case "markdown":
		if err := compare.WriteMarkdown(w, r); err != nil {
			return err
		}
		return compare.WriteExplanationsMarkdown(w, exps, 0)
	}
	if err := compare.WriteText(w, r); err != nil {
		return err
	}
	return compare.WriteExplanationsText(w, exps, 0)
}

func validFormat(f string) bool {
	for _, x := range compare.Formats {
		if x == f {
			return true
		}
	}
	return false
}

// defaultBaselines is results/baselines in the source tree, or "" when
// there is no source tree.
func defaultBaselines() string {
	src, err := sourceDir()
	if err != nil {
		return ""
	}
	return filepath.Join(src, "results", "baselines")
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
