package compare

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"coldstart/harness/results"
	"coldstart/stats"
)

// History: one series a kernel and scenario over nightly runs, and the
// steps stats.EDivisive finds in it.

// Step is a change point in one kernel's scenario over a run series.
type Step struct {
	Kernel, Scenario string
	Run              string // the first run after the step
	Previous         string // the last run before it
	stats.ChangePoint
}

// RunSeries is one kernel's scenario over runs: the median of per-boot
// medians of each run that ran it.
type RunSeries struct {
	Kernel, Scenario string
	Runs             []string
	Values           []float64
	// Calibrated is set when the values were calibrated (LoadHistory's
	// calibrate) to the first run's guest speed. A series that mixes in
	// runs from before calibration stays as measured, since scaling only
	// some runs would itself make a step.
	Calibrated bool
}

// runData is one run's samples of a series, grouped by boot, and the
// boots' speeds (nil when the run has no calibration).
type runData struct {
	groups [][]float64
	speeds []float64
}

// LoadHistory reads every run directory under dir (sorted by name, which
// for UTC stamps is time order) and returns one series per kernel and
// scenario.
//
// With calibrate, each boot's samples are divided by its guest speed
// (see stats.Calibrate), so that nights when the host was busier do not look
// like steps.
func LoadHistory(dir, metric string, calibrate bool) ([]*RunSeries, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var runs []string
	for _, e := range entries {
		if e.IsDir() {
			if m, _ := filepath.Glob(filepath.Join(dir, e.Name(), "*.json")); len(m) > 0 {
				runs = append(runs, e.Name())
			}
		}
	}
	if len(runs) == 0 {
		return nil, nil, fmt.Errorf("%s holds no run directories with result files", dir)
	}
	sort.Strings(runs)
	byKey := map[string]*RunSeries{}
	data := map[string][]runData{}
	var keys []string
	for _, run := range runs {
		files, err := Load(filepath.Join(dir, run))
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			names := map[string]bool{}
			for n := range f.Scenarios {
				names[n] = true
			}
			for _, sc := range scenarioOrder(names, f) {
				if f.Scenarios[sc].Status != results.StatusOK {
					continue
				}
				groups, boots, _ := Groups(f, sc, metric)
				if math.IsNaN(stats.GroupMedian(groups)) {
					continue
				}
				speeds, _ := Speeds(f, sc, boots)
				key := f.Kernel.Name + "\x00" + sc
				s := byKey[key]
				if s == nil {
					s = &RunSeries{Kernel: f.Kernel.Name, Scenario: sc}
					byKey[key] = s
					keys = append(keys, key)
				}
				s.Runs = append(s.Runs, run)
				data[key] = append(data[key], runData{groups, speeds})
			}
		}
	}
	out := make([]*RunSeries, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
		out[i].values(data[k], calibrate)
	}
	return out, runs, nil
}

// values fills Values from the series' runs: median of per-boot medians,
// calibrated to the first run's median speed when asked and every run can
// be.
func (s *RunSeries) values(runs []runData, calibrate bool) {
	s.Calibrated = calibrate && !slices.ContainsFunc(runs, func(r runData) bool { return r.speeds == nil })
	s.Values = make([]float64, len(runs))
	for i, r := range runs {
		groups := r.groups
		if s.Calibrated {
			groups = stats.Calibrate(groups, r.speeds, stats.Median(runs[0].speeds))
		}
		s.Values[i] = stats.GroupMedian(groups)
	}
}

// Steps finds the change points of each series, keeping those whose
// segment medians differ by more than threshold.
func Steps(series []*RunSeries, threshold float64, o stats.EDivisiveOptions) []Step {
	var steps []Step
	for _, s := range series {
		for _, cp := range stats.EDivisive(s.Values, o) {
			if math.Abs(cp.Ratio()-1) <= threshold {
				continue
			}
			steps = append(steps, Step{Kernel: s.Kernel, Scenario: s.Scenario,
				Run: s.Runs[cp.Index], Previous: s.Runs[cp.Index-1], ChangePoint: cp})
		}
	}
	return steps
}
