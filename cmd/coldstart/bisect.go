package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"coldstart/harness/bisect"
	"coldstart/harness/compare"
	"coldstart/harness/tree"
	"coldstart/internal/atomicfile"
)

const bisectUsage = `usage: coldstart bisect --tree DIR --good REF --bad REF --scenario NAME [flags]

Names the commit between GOOD and BAD that made SCENARIO slower (or
faster). It first boots good and bad alternately and refuses, with the
numbers, when they do not differ significantly. Then it runs git bisect in a
private clone of the tree (the tree's checkout is never touched): each step
builds the commit (incrementally, in one build directory per tree and
config), boots it, and classifies it by which end it is statistically
closer to, adding boots while that is unknown, up to --max-boots; a commit
that does not build or boot is skipped (git bisect run's 125). It prints the
first bad commit with the evidence of every step; the state, each step's
build and console logs, and report.txt are kept in --out. Run the same
command again to resume an interrupted bisect. With --explain every boot
also graphs the scenario in the kernel after its timed iterations, and the
report ends with where the time went between the last good and the first
bad commit.

Exit status: 0 the first bad commit was named, 1 inconclusive (skipped
commits left several candidates), 2 refused (the ends do not differ), an
end could not be built or booted, or a usage error; 130 interrupted.`

func runBisect(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runBisectWith(ctx, stdout, stderr, args, realLab())
}

func runBisectWith(ctx context.Context, stdout, stderr io.Writer, args []string, l lab) error {
	fs := newFlagSet("bisect", bisectUsage, stderr)
	good := fs.String("good", "", "a ref where the scenario is fast")
	bad := fs.String("bad", "", "a later ref where it is slow")
	scen := fs.String("scenario", "", "the scenario to bisect (e.g. ipcns)")
	boots := fs.Int("boots", 5, "boots per measurement (at least 5 for p ≤ 0.01)")
	maxBoots := fs.Int("max-boots", 15, "boots a commit may get while its verdict is unknown")
	var lf labFlags
	lf.register(fs, l.find(), "state, logs and report (default: results/bisect/<good>-<bad>-<scenario> in the source tree; rerun to resume)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	switch {
	case fs.NArg() > 0:
		return usagef("bisect takes no arguments, got %q", fs.Args())
	case lf.repo == "" || *good == "" || *bad == "" || *scen == "":
		return usagef("bisect needs --tree DIR, --good REF, --bad REF and --scenario NAME")
	case *boots < 1 || *maxBoots < *boots:
		return usagef("--boots must be at least 1 and --max-boots at least --boots")
	}
	co, traced, err := lf.resolve()
	if err != nil {
		return err
	}
	names, err := parseScenarios(*scen)
	if err != nil {
		return err
	}
	if len(names) != 1 {
		return usagef("--scenario names one scenario")
	}
	if err := l.open(stderr); err != nil {
		return err
	}
	w, err := l.workspace(ctx, lf.repo)
	if err != nil {
		return err
	}
	defer w.Close()
	outDir, err := l.outDir(lf.out, "bisect", sanitize(*good+"-"+*bad+"-"+names[0]))
	if err != nil {
		return err
	}
	b, m, err := l.onTree(ctx, w, names, lf.vf)
	if err != nil {
		return err
	}
	st, err := bisect.Run(ctx, bisect.Options{
		Work: w, Good: *good, Bad: *bad, Scenario: names[0], Boots: *boots, MaxBoots: *maxBoots, Compare: co,
		Builder: b, Measurer: m, Explain: traced, Out: outDir, Progress: stderr,
	})
	if st != nil && st.Measured && (err == nil || errors.Is(err, bisect.ErrInconclusive)) {
		if werr := writeBisect(stdout, st, outDir, lf.ef.on); werr != nil {
			return werr
		}
	}
	return bisectError(ctx, stderr, err, outDir)
}

// writeBisect writes the steps of st (and with explain where the time
// went) to report.txt in outDir and to w.
func writeBisect(w io.Writer, st *bisect.State, outDir string, explain bool) error {
	write := func(w io.Writer) error { return bisect.WriteTable(w, st) }
	if explain {
		exp := bisect.Explain(st, outDir)
		write = func(w io.Writer) error {
			if err := bisect.WriteTable(w, st); err != nil {
				return err
			}
			return compare.WriteExplanationsText(w, []compare.Explanation{exp}, 0)
		}
	}
	if err := atomicfile.Write(filepath.Join(outDir, "report.txt"), 0o644, write); err != nil {
		return err
	}
	if err := write(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nstate, logs and this report: %s\n", outDir)
	return nil
}

// bisectError classifies what bisect.Run returned: inconclusive is exit 1,
// ends that do not differ or a bad ref the user's, the rest the machine's.
func bisectError(ctx context.Context, stderr io.Writer, err error, outDir string) error {
	var ge *tree.GitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "coldstart: rerun the same command to resume the bisect from %s\n", outDir)
		return err
	case errors.Is(err, bisect.ErrInconclusive):
		return err
	case errors.Is(err, bisect.ErrNotDifferent), errors.As(err, &ge):
		return usageError{err}
	default:
		return setupError{err}
	}
}
