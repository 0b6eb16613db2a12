package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"coldstart/harness/compare"
	"coldstart/harness/results"
)

// reportExplains bounds the explain sections of a report page: the
// largest changes between neighbouring kernels.
const reportExplains = 12

func runReport(_ context.Context, stdout, stderr io.Writer, args []string) error {
	var cf compareFlags
	fs := newFlagSet("report", "", stderr)
	htmlOut := fs.String("html", "", "write the HTML page here (required)")
	baselines := fs.String("baselines", "", "baselines directory (default: results/baselines in the source tree, if any; \"none\" for none)")
	cf.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) == 0 || *htmlOut == "" {
		fmt.Fprintln(stderr, "usage: coldstart report RUN_DIR... --html FILE [--baselines DIR]")
		return usagef("report needs at least one RUN_DIR and --html FILE")
	}
	o, err := cf.options()
	if err != nil {
		return err
	}
	var files []*results.File
	seen := map[string]string{}
	for _, p := range pos {
		fs, err := compare.Load(p)
		if err != nil {
			return inputError(err)
		}
		for _, f := range fs {
			if prev, ok := seen[f.Kernel.Name]; ok {
				return usagef("kernel %s is in both %s and %s", f.Kernel.Name, prev, p)
			}
			seen[f.Kernel.Name] = p
			files = append(files, f)
		}
	}
	var base []*results.File
	bdir := *baselines
	if bdir == "" {
		if d := defaultBaselines(); dirExists(d) {
			bdir = d
		}
	}
	if bdir != "" && bdir != "none" {
		if base, err = compare.Load(bdir); err != nil && !errors.Is(err, compare.ErrNoResults) {
			return inputError(err)
		}
	}
	r := compare.Matrix(files, base, o)
	r.New = strings.Join(pos, " ")
	r.Base = bdir
	p := compare.PageFromReport(r)
	// Where the time went between neighbouring kernels, for the scenarios
	// that moved beyond the threshold and carry traces (matrix --trace N).
	p.AddExplanations(compare.Adjacent(files, o, reportExplains))
	if err := writeOutput(stdout, *htmlOut, func(w io.Writer) error { return compare.WriteHTML(w, p) }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\nwrote %s\n", r.Summary(), *htmlOut)
	return nil
}
