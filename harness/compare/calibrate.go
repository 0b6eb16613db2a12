package compare

import (
	"fmt"

	"coldstart/harness/results"
	"coldstart/stats"
)

// Calibration.
//
// Under TCG the guest runs as fast as the host lets it, and on a shared
// host that moves by 30% and more from one boot to the next: every
// scenario of a boot moves together. The agent times a fixed piece of
// user-space work around every scenario (event.Calibration); its time
// measures the guest's speed and no kernel change alters it. Dividing each
// boot's samples by its boot's calibration time, relative to the base
// side's, takes the host out of the comparison. The figures shown are then
// what the samples would have been at the base side's median speed.

// Speeds returns, for each of boots, the mean calibration time (ns) around
// scenario in that boot (the mean, not the median: the runs the host's
// scheduler interrupted are the point), and false when any boot lacks one (files
// from before calibration, or a boot that failed before it was measured).
func Speeds(f *results.File, scenario string, boots []int) ([]float64, bool) {
	byIndex := map[int]*results.Boot{}
	for i := range f.Boots {
		byIndex[f.Boots[i].Index] = &f.Boots[i]
	}
	out := make([]float64, len(boots))
	for i, b := range boots {
		rec := byIndex[b]
		if rec == nil || rec.Calibration[scenario] == nil || len(rec.Calibration[scenario].LoopNS) == 0 {
			return nil, false
		}
		loop := rec.Calibration[scenario].LoopNS
		v := make([]float64, len(loop))
		for j, x := range loop {
			v[j] = float64(x)
		}
		out[i] = stats.Mean(v)
		if out[i] <= 0 {
			return nil, false
		}
	}
	return out, true
}

// Calibration modes (Options.Calibrate).
const (
	CalibrateAuto = "auto"
	CalibrateOn   = "on"
	CalibrateOff  = "off"
)

// CalibrationModes lists them, for flags.
var CalibrationModes = []string{CalibrateAuto, CalibrateOn, CalibrateOff}

// autoSpeedRatio is how far apart (as a ratio of median calibration
// times) the two sides' guest speeds must be before CalibrateAuto divides
// them out. Between boots of one quiet run the median calibration moved
// by under 10%; a host running the test suite beside the guest made it
// 2.3x slower, and every scenario with it.
const autoSpeedRatio = 1.2

// calibrateSides calibrates both sides of a comparison to the base side's
// median speed when mode asks for it, or leaves both as measured and says
// why when it cannot (calibrating only one side would compare different
// units).
func calibrateSides(scenario string, base, next *Side, mode string) string {
	if mode == CalibrateOff || len(base.groups) == 0 || len(next.groups) == 0 || !HasCalibration(base.file) || !HasCalibration(next.file) {
		return "" // off, nothing to compare, or said once per file pair (fileNotes)
	}
	bs, okB := Speeds(base.file, scenario, base.boots)
	ns, okN := Speeds(next.file, scenario, next.boots)
	if !okB || !okN {
		if mode == CalibrateOn {
			return "not calibrated: a boot lacks this scenario's speed calibration; compared as measured"
		}
		return ""
	}
	ref := stats.Median(bs)
	r := stats.Median(ns) / ref
	differ := r > autoSpeedRatio || r < 1/autoSpeedRatio
	if mode != CalibrateOn && !differ {
		return ""
	}
	base.groups = stats.Calibrate(base.groups, bs, ref)
	next.groups = stats.Calibrate(next.groups, ns, ref)
	base.summarize()
	next.summarize()
	base.Calibrated, next.Calibrated = true, true
	if differ {
		return fmt.Sprintf("guest speed differed: calibration %.2fx the base's, divided out", r)
	}
	return ""
}

// HasCalibration reports whether any boot of f measured the guest's speed:
// files from before calibration existed have none.
func HasCalibration(f *results.File) bool {
	for _, b := range f.Boots {
		if len(b.Calibration) > 0 {
			return true
		}
	}
	return false
}

// calibrationNote says, with --calibrate, when two files cannot be
// calibrated against each other because one of them was recorded without
// calibration.
func calibrationNote(base, next *results.File, o Options) string {
	if o.Calibrate != CalibrateOn {
		return ""
	}
	b, n := HasCalibration(base), HasCalibration(next)
	switch {
	case b && !n:
		return fmt.Sprintf("%s: the new run has no guest-speed calibration; compared as measured", next.Kernel.Name)
	case !b && n:
		return fmt.Sprintf("%s: the base has no guest-speed calibration (recorded before it existed); compared as measured; record the baseline again", base.Kernel.Name)
	}
	return ""
}

// CalibratedGroups is Groups with each boot's samples divided by its
// guest speed relative to ref (ns of calibration), for series that gather
// boots from several files (bisect, history). With ref 0 the file's own
// median speed is used and returned, for the files that follow. ok is
// false, and the groups are as measured, when a boot lacks calibration.
func CalibratedGroups(f *results.File, scenario, metric string, ref float64) (groups [][]float64, usedRef float64, ok bool) {
	groups, boots, _ := Groups(f, scenario, metric)
	speeds, ok := Speeds(f, scenario, boots)
	if !ok || len(groups) == 0 {
		return groups, ref, false
	}
	if ref <= 0 {
		ref = stats.Median(speeds)
	}
	return stats.Calibrate(groups, speeds, ref), ref, true
}
