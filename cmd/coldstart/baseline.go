package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"coldstart/harness/baseline"
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
			return usagef("%v\nrerun the matrix with more boots (coldstart matrix --boots 10), or lower --min-boots", err)
		}
		return inputError(err)
	}
	for _, w := range written {
		fmt.Fprintln(stdout, "wrote", w)
	}
	return nil
}
