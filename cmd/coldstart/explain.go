package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"coldstart/harness/explain"
	"coldstart/harness/results"
)

// runExplain is `coldstart explain A B --scenario NAME`: where in the kernel
// the scenario's time grew from A to B. A and B are result files, or run
// directories (then --kernel names the file in each, unless it holds one).
func runExplain(_ context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("explain", "", stderr)
	scenario := fs.String("scenario", "", "the scenario to explain (required)")
	kernel := fs.String("kernel", "", "the kernel whose result file to take from run directories")
	format := fs.String("format", "text", "text, markdown or svg")
	top := fs.Int("top", explain.DefaultTop, "call paths to list")
	out := fs.String("out", "", "write here instead of stdout")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 2 {
		return usagef("explain takes two result files or run directories (base, new), got %d", len(pos))
	}
	if *scenario == "" {
		return usagef("explain needs --scenario NAME")
	}
	var write func(io.Writer, *explain.Report) error
	switch *format {
	case "text":
		write = func(w io.Writer, r *explain.Report) error { return explain.WriteText(w, r, *top) }
	case "markdown":
		write = func(w io.Writer, r *explain.Report) error { return explain.WriteMarkdown(w, r, *top) }
	case "svg":
		write = explain.WriteSVG
	default:
		return usagef("--format %q: want text, markdown or svg", *format)
	}
	var files [2]*results.File
	for i, p := range pos {
		if files[i], err = explainInput(p, *kernel); err != nil {
			return err
		}
	}
	rep, err := explain.Explain(files[0], files[1], *scenario)
	var ue *explain.UnsupportedError
	switch {
	case errors.As(err, &ue):
		// A kernel without the tracer is a fact about it, not a failure.
		fmt.Fprintf(stdout, "%s: unsupported: %s %s\n", *scenario, explain.Label(ue.Kernel, ue.Release), ue.Reason)
		return nil
	case errors.Is(err, explain.ErrNoTrace):
		return usageError{fmt.Errorf("%w: %s", err, traceHint)}
	case err != nil:
		return usageError{err}
	}
	return writeOutput(stdout, *out, func(w io.Writer) error { return write(w, rep) })
}

// traceHint says how result files get traces.
const traceHint = "run coldstart matrix with --trace N (N traced iterations per scenario after the timed ones; coldstart.trace=N on the kernel command line)"

// explainInput reads a result file, or the kernel's file in a run directory.
func explainInput(p, kernel string) (*results.File, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, usageError{err}
	}
	if st.IsDir() {
		switch {
		case kernel != "":
			p = filepath.Join(p, kernel+".json")
		default:
			m, _ := filepath.Glob(filepath.Join(p, "*.json"))
			if len(m) != 1 {
				return nil, usagef("%s holds %d result files: name one with --kernel", p, len(m))
			}
			p = m[0]
		}
	}
	f, err := results.Read(p)
	if err != nil {
		return nil, usageError{fmt.Errorf("explain: %w", err)}
	}
	return f, nil
}
