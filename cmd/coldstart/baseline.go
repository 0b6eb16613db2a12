package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"coldstart/harness/baseline"
	"coldstart/harness/compare"
	"coldstart/harness/results"
)

func runBaseline(_ context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 || args[0] != "update" {
		fmt.Fprintln(stderr, "usage: coldstart baseline update RUN_DIR [--dir DIR] [--min-boots N] [--min-samples N]")
		return usagef("baseline needs the subcommand update")
	}
	o := baseline.DefaultOptions()
	fs := newFlagSet("baseline update", "", stderr)
	dir := fs.String("dir", "", "baselines directory (default: results/baselines in the source tree)")
	fs.IntVar(&o.MinBoots, "min-boots", o.MinBoots, "usable boots each supported scenario needs (below 5 nothing can be called regressed)")
	fs.IntVar(&o.MinSamplesPerBoot, "min-samples", o.MinSamplesPerBoot, "samples a boot needs to count")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		return usagef("baseline update takes one RUN_DIR, got %d arguments", len(pos))
	}
	if *dir == "" {
		if *dir = defaultBaselines(); *dir == "" {
			return usagef("no source tree found for results/baselines: pass --dir")
		}
	}
	written, err := baseline.Update(pos[0], *dir, o)
	if err != nil {
		if errors.Is(err, baseline.ErrUnfit) {
			return usagef("%v\nrerun the matrix with more boots (coldstart matrix --boots 20), or lower --min-boots", err)
		}
		return inputError(err)
	}
	for _, w := range written {
		fmt.Fprintln(stdout, "wrote", w)
	}
	// A baseline's size and its boots' spread cap what compare can find
	// against it: say what, per scenario, so nobody trusts a "same" that
	// could not have been anything else.
	fewest := 0
	for _, w := range written {
		f, err := results.Read(w)
		if err != nil {
			return inputError(err)
		}
		if n := writePower(stdout, f); n > 0 && (fewest == 0 || n < fewest) {
			fewest = n
		}
	}
	if fewest > 0 && fewest < RecommendedBaselineBoots {
		fmt.Fprintf(stdout, "note: the fewest usable boots of a scenario here is %d; record baselines with coldstart matrix --boots %d or more\n",
			fewest, RecommendedBaselineBoots)
	}
	return nil
}

// writePower prints what comparisons against the baseline f can find, and
// returns the fewest boots any of its scenarios has (0 with none).
func writePower(w io.Writer, f *results.File) int {
	o := compare.DefaultOptions()
	fmt.Fprintf(w, "%s: what a comparison against it finds 95%% of the time (threshold %g%%, α=%g)\n", f.Kernel.Name, o.Threshold*100, o.Alpha)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  scenario\tboots\tspread\tstep 5 new boots find\tnew boots for a 20% step")
	fewest := 0
	for _, r := range compare.Power(f, o) {
		if fewest == 0 || r.Boots < fewest {
			fewest = r.Boots
		}
		found := "none"
		if !math.IsInf(r.FoundBy5, 1) {
			found = compare.SignedPct(r.FoundBy5)
		}
		need := "over 100"
		switch {
		case r.BootsFor20 > 0:
			need = fmt.Sprint(r.BootsFor20)
		case r.Never:
			need = fmt.Sprintf("none: needs a baseline of more than %d boots", r.Boots)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%.2f\t%s\t%s\n", r.Scenario, r.Boots, r.Spread, found, need)
	}
	tw.Flush()
	fmt.Fprintln(w, "  spread: σ of the log of per-boot medians (0.10 = boots differ by about 10%); see stats/power.go")
	return fewest
}

// RecommendedBaselineBoots is how many boots a baseline should have.
const RecommendedBaselineBoots = 20
