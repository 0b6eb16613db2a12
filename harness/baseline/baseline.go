// Package baseline keeps the committed reference results, one file per
// kernel, results/baselines/<kernel>.json, in the result file's own schema
// (harness/results). Update copies a run's files there atomically, after
// checking that each is fit to be a reference: complete, no failed
// scenario, and enough usable boots and samples for a verdict.
//
// Environment: none.
package baseline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"coldstart/harness/compare"
	"coldstart/harness/results"
	"coldstart/plan"
	"coldstart/stats"
)

// Options are the minimums a baseline must meet.
type Options struct {
	// MinBoots is the number of usable boots (clock not coarse) each
	// supported scenario needs. Below stats.MinBoots(0.01) (five), no
	// comparison against the baseline can ever be called regressed.
	MinBoots int
	// MinSamplesPerBoot is the fewest samples a usable boot may hold; for
	// the slow scenarios (containers, seccomp), the plan's slow_iterations
	// when that is fewer.
	MinSamplesPerBoot int
}

// DefaultOptions: five boots, ten samples each.
func DefaultOptions() Options {
	return Options{MinBoots: stats.MinBoots(0.01), MinSamplesPerBoot: 10}
}

// ErrUnfit is wrapped by the error Check returns.
var ErrUnfit = errors.New("not fit to be a baseline")

// UnfitError lists why a result file cannot be a baseline.
type UnfitError struct {
	Path    string
	Reasons []string
}

func (e *UnfitError) Error() string {
	return fmt.Sprintf("%s is %v: %s", e.Path, ErrUnfit, strings.Join(e.Reasons, "; "))
}

func (e *UnfitError) Unwrap() error { return ErrUnfit }

// Check returns an *UnfitError when f cannot be a baseline.
func Check(path string, f *results.File, o Options) error {
	var why []string
	if !f.Complete {
		why = append(why, "the run is incomplete")
	}
	if len(f.Scenarios) == 0 {
		why = append(why, "it holds no scenarios")
	}
	names := make([]string, 0, len(f.Scenarios))
	for n := range f.Scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sc := f.Scenarios[n]
		switch sc.Status {
		case results.StatusFailed:
			why = append(why, fmt.Sprintf("scenario %s failed (%s)", n, sc.Reason))
			continue
		case results.StatusUnsupported:
			continue // a fact about the kernel, fine in a baseline
		}
		groups, _, excluded := compare.Groups(f, n, "wall")
		// A boot needs MinSamplesPerBoot samples, or all the plan asked
		// of a slow scenario when that is fewer (5 container runs).
		need := o.MinSamplesPerBoot
		if it := f.Plan.SlowIterations; it > 0 && plan.IsSlow(n) && it < need {
			need = it
		}
		usable := 0
		for _, g := range groups {
			if len(g) >= need {
				usable++
			}
		}
		if usable < o.MinBoots {
			msg := fmt.Sprintf("scenario %s has %d usable boots with ≥%d samples, needs %d", n, usable, need, o.MinBoots)
			if len(excluded) > 0 {
				msg += fmt.Sprintf(" (%d left out: coarse clock)", len(excluded))
			}
			why = append(why, msg)
		}
	}
	if len(why) > 0 {
		return &UnfitError{Path: path, Reasons: why}
	}
	return nil
}

// Update checks every result file in runDir and, only if all are fit,
// writes each to dir/<kernel>.json atomically. It returns the paths
// written.
func Update(runDir, dir string, o Options) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(runDir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		if _, err := os.Stat(runDir); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s holds no result files (*.json)", runDir)
	}
	var files []*results.File
	var errs []error
	for _, p := range paths {
		f, err := results.Read(p)
		if err != nil {
			return nil, err
		}
		if err := Check(p, f, o); err != nil {
			errs = append(errs, err)
		}
		files = append(files, f)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range files {
		out := filepath.Join(dir, f.Kernel.Name+".json")
		if err := results.Write(out, f); err != nil {
			return written, err
		}
		written = append(written, out)
	}
	return written, nil
}
