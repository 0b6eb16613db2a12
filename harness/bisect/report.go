package bisect

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"coldstart/internal/duration"
)

// WriteTable prints the evidence of a bisect: the two ends, then one row
// per step with the verdict against each end, then the answer.
func WriteTable(w io.Writer, st *State) error {
	fmt.Fprintf(w, "bisect of %s (%s time) in %s\n\n", st.Scenario, st.Metric, st.Repo)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\tcommit\tclass\texit\tboots\tmedian\tvs good\tvs bad\tsubject")
	fmt.Fprintf(tw, "good\t%.12s\t\t\t%d\t%s\t\t\t%s\n", st.Good.Commit, len(st.Good.Groups), duration.Format(st.Good.Median), st.Good.Subject)
	fmt.Fprintf(tw, "bad\t%.12s\t\t\t%d\t%s\t%s\t\t%s\n", st.Bad.Commit, len(st.Bad.Groups), duration.Format(st.Bad.Median), evText(&st.Ends), st.Bad.Subject)
	for _, s := range st.Steps {
		med := duration.Format(s.Median)
		if s.Boots == 0 {
			med = "-"
		}
		fmt.Fprintf(tw, "%d\t%.12s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", s.N, s.Commit, s.Class, s.Exit, s.Boots, med, evText(s.VsGood), evText(s.VsBad), s.Subject)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, s := range st.Steps {
		fmt.Fprintf(w, "  step %d %.12s: %s", s.N, s.Commit, strings.ReplaceAll(s.Reason, "\n", "\n      "))
		fmt.Fprintf(w, " [logs: %s]\n", s.Dir)
	}
	fmt.Fprintln(w)
	switch {
	case st.FirstBad != "":
		_, err := fmt.Fprintf(w, "first bad commit: %s %s\n", st.FirstBad, st.Subject)
		return err
	case len(st.Candidates) > 0:
		_, err := fmt.Fprintf(w, "inconclusive: skipped commits leave %d candidates: %s\n", len(st.Candidates), strings.Join(st.Candidates, " "))
		return err
	}
	_, err := fmt.Fprintln(w, "bisect not finished (resume with the same command)")
	return err
}

// evText is "×1.98 p=0.008 regressed", or "-".
func evText(e *Evidence) string {
	if e == nil || math.IsNaN(e.Ratio) || e.Ratio == 0 {
		return "-"
	}
	return fmt.Sprintf("×%.2f p=%.2g %s", e.Ratio, e.P, e.Verdict)
}
