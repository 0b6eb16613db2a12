package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

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
	fs := flag.NewFlagSet("baseline update", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "baselines directory (default: results/baselines in the source tree)")
	fs.IntVar(&o.MinBoots, "min-boots", o.MinBoots, "usable boots each supported scenario needs (below 5 nothing can be called regressed)")
	fs.IntVar(&o.MinSamplesPerBoot, "min-samples", o.MinSamplesPerBoot, "samples a boot needs to count")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
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
	// A baseline's size caps what compare can detect against it: in the
	// seeded simulation (harness/compare TestAdaptiveRates, 5% boot spread),
	// an adaptive run of 5-15 boots found a 20% step 38% of the time
	// against a 5-boot baseline, 71% against 10, 88% against 15 and 95%
	// against 20.
	if boots := fewestBoots(written); boots > 0 && boots < RecommendedBaselineBoots {
		fmt.Fprintf(stdout, "note: the fewest usable boots of a scenario here is %d; a baseline of %d or more boots is what lets compare find a 20%% step 95%% of the time (record with coldstart matrix --boots %d)\n",
			boots, RecommendedBaselineBoots, RecommendedBaselineBoots)
	}
	return nil
}

// RecommendedBaselineBoots is how many boots a baseline should have.
const RecommendedBaselineBoots = 20

// fewestBoots is the smallest number of boots any supported scenario of
// the baselines at paths holds (0 when none can be read).
func fewestBoots(paths []string) int {
	fewest := 0
	for _, p := range paths {
		f, err := results.Read(p)
		if err != nil {
			continue
		}
		for n, sc := range f.Scenarios {
			if sc.Status != results.StatusOK {
				continue
			}
			groups, _, _ := compare.Groups(f, n, "wall")
			if fewest == 0 || len(groups) < fewest {
				fewest = len(groups)
			}
		}
	}
	return fewest
}
