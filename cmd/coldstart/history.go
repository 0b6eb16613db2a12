package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"coldstart/harness/compare"
	"coldstart/internal/duration"
	"coldstart/stats"
)

func runHistory(_ context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("history", "", stderr)
	threshold := fs.String("threshold", "5%", "ignore steps smaller than this")
	metric := fs.String("metric", "wall", "wall or op")
	calibrate := fs.Bool("calibrate", false, "divide each boot's samples by its guest speed (the agent's calibration), so that nights on a busier host do not look like steps")
	o := stats.DefaultEDivisive()
	fs.Float64Var(&o.Alpha, "alpha", o.Alpha, "significance level of the permutation test")
	fs.IntVar(&o.MinSize, "min-runs", o.MinSize, "fewest runs on each side of a step")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: coldstart history DIR   (DIR holds nightly run directories, named so that they sort in time order)")
		return usagef("history takes one DIR, got %d arguments", len(pos))
	}
	t, err := parsePercent(*threshold)
	if err != nil {
		return usagef("--threshold %q: %v", *threshold, err)
	}
	if *metric != "wall" && *metric != "op" {
		return usagef("--metric %q: want wall or op", *metric)
	}
	series, runs, err := compare.LoadHistory(pos[0], *metric, *calibrate)
	if err != nil {
		return inputError(err)
	}
	steps := compare.Steps(series, t, o)
	fmt.Fprintf(stdout, "%d runs in %s (%s … %s), %d series; E-Divisive means, permutation p ≤ %g, steps beyond ±%g%%\n",
		len(runs), pos[0], runs[0], runs[len(runs)-1], len(series), o.Alpha, t*100)
	if len(steps) == 0 {
		fmt.Fprintln(stdout, "no steps found")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "kernel\tscenario\tstepped at run\tafter\tbefore\tafter\tchange\tp")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%+.1f%%\t%.3f\n", s.Kernel, s.Scenario, s.Run, s.Previous,
			duration.Format(s.Before), duration.Format(s.After), (s.Ratio()-1)*100, s.P)
	}
	return tw.Flush()
}
