package bisect

import (
	"fmt"
	"math"

	"coldstart/harness/compare"
	"coldstart/stats"
)

// Class is what a bisect step decided about a commit.
type Class string

// Classes, with the exit status git bisect run gives them.
const (
	Good    Class = "good"    // 0
	Bad     Class = "bad"     // 1
	Skip    Class = "skip"    // 125: did not build, boot or run the scenario
	Unknown Class = "unknown" // not yet decided: more boots
)

// ExitCode is the git bisect run status of a class.
func (c Class) ExitCode() int {
	switch c {
	case Good:
		return 0
	case Bad:
		return 1
	}
	return 125
}

// Evidence is a commit's samples compared with one end of the bisect.
type Evidence struct {
	Verdict stats.Verdict  `json:"verdict"`
	Ratio   float64        `json:"ratio"` // this commit's median / the end's
	CI      stats.Interval `json:"ci"`
	P       float64        `json:"p"`
	Note    string         `json:"note,omitempty"`
}

func evidence(end, s [][]float64, o compare.Options, scenario string) Evidence {
	v, view, note := stats.Decide(end, s, o.ThresholdFor(scenario), o.Rule)
	return Evidence{Verdict: v, Ratio: view.Ratio, CI: view.CI, P: view.P, Note: note}
}

// differs: the verdict rule found a significant difference beyond the
// practical threshold, in either direction.
func (e Evidence) differs() bool {
	return e.Verdict == stats.Regressed || e.Verdict == stats.Improved
}

// Classify decides which end of the bisect a commit's per-boot samples are
// statistically closer to. With vsGood = Decide(good, s) and vsBad =
// Decide(bad, s) (stats.Decide, the verdict rule, on per-boot medians):
//
//   - good when s differs significantly from bad and not from good;
//   - bad when s differs significantly from good and not from bad;
//   - unknown otherwise (it differs from neither, or from both): the
//     caller adds boots.
//
// "Differs" is a regressed or improved verdict, so the rule works whether
// the bad end is slower (a regression) or faster (bisecting an
// improvement). When force is set (the boots are at their maximum) an
// unknown commit goes to the end whose median is nearer on a log scale,
// and the reason says so.
func Classify(good, bad, s [][]float64, scenario string, o compare.Options, force bool) (c Class, vsGood, vsBad Evidence, reason string) {
	vsGood, vsBad = evidence(good, s, o, scenario), evidence(bad, s, o, scenario)
	dg, db := vsGood.differs(), vsBad.differs()
	switch {
	case db && !dg:
		return Good, vsGood, vsBad, fmt.Sprintf("differs from bad (p=%.3g), not from good (%s)", vsBad.P, vsGood.Verdict)
	case dg && !db:
		return Bad, vsGood, vsBad, fmt.Sprintf("differs from good (p=%.3g), not from bad (%s)", vsGood.P, vsBad.Verdict)
	}
	why := "differs from neither end"
	if dg && db {
		why = "differs from both ends"
	}
	if !force {
		return Unknown, vsGood, vsBad, why
	}
	lg, lb := math.Abs(math.Log(vsGood.Ratio)), math.Abs(math.Log(vsBad.Ratio))
	switch {
	case math.IsNaN(lg) || math.IsNaN(lb):
		return Skip, vsGood, vsBad, why + "; no usable samples"
	case lg <= lb:
		return Good, vsGood, vsBad, why + " at the boot limit; median nearer good (not significant)"
	default:
		return Bad, vsGood, vsBad, why + " at the boot limit; median nearer bad (not significant)"
	}
}
