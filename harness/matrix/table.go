package matrix

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"coldstart/harness/results"
	"coldstart/stats"
)

// WriteTable prints one kernel's results in the manner of hyperfine: the
// median first, then mean ± σ, the range, the system call alone (op), the
// child's user and system time, and the sample count.
func WriteTable(w io.Writer, f *results.File) error {
	okBoots := 0
	var hello []float64
	for _, b := range f.Boots {
		if b.Status == results.StatusOK {
			okBoots++
		}
		if b.HelloMS > 0 {
			hello = append(hello, b.HelloMS)
		}
	}
	state := ""
	if !f.Complete {
		state = ", INCOMPLETE"
	}
	fmt.Fprintf(w, "%s (%s, %s): %d/%d boots ok x %d iterations, agent up in %s (median)%s\n",
		f.Kernel.Name, orDash(f.Kernel.Release), f.Accel, okBoots, len(f.Boots), f.Plan.Iterations,
		fmtMS(stats.Median(hello)), state)
	for _, b := range f.Boots {
		if b.ClockCoarse {
			fmt.Fprintf(w, "  warning: boot %d ran on a coarse clock (%s, resolution %d ns): its short timings are multiples of a tick\n", b.Index, b.Clocksource, b.ClockResNS)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  scenario\tmedian\tmean ± σ\tmin … max\top (median)\tuser\tsys\tn\t")
	var notes []string
	for _, name := range SortedScenarioNames(f) {
		s := f.Scenarios[name]
		if s.Status != results.StatusOK {
			notes = append(notes, fmt.Sprintf("  %s %s: %s", name, s.Status, s.Reason))
		}
		if len(s.Samples) == 0 {
			fmt.Fprintf(tw, "  %s\t%s\t\t\t\t\t\t\t\n", name, s.Status)
			continue
		}
		wall := stats.Summarize(s.Walls())
		var op, user, sys []float64
		for _, x := range s.Samples {
			op = append(op, float64(x.OpNS))
			user = append(user, float64(x.UserNS))
			sys = append(sys, float64(x.SysNS))
		}
		flag := ""
		if s.Status == results.StatusFailed {
			flag = "(failed)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s ± %s\t%s … %s\t%s\t%s\t%s\t%d\t%s\n", name,
			fmtNS(wall.Median), fmtNS(wall.Mean), fmtNS(wall.StdDev), fmtNS(wall.Min), fmtNS(wall.Max),
			fmtNS(stats.Median(op)), fmtNS(stats.Mean(user)), fmtNS(stats.Mean(sys)), wall.N, flag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		if len(n) > 300 {
			n = n[:300] + "..."
		}
		fmt.Fprintln(w, n)
	}
	return nil
}

func fmtNS(ns float64) string {
	switch {
	case ns != ns: // NaN
		return "-"
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	default:
		return fmt.Sprintf("%.2f s", ns/1e9)
	}
}

func fmtMS(ms float64) string {
	if ms != ms {
		return "-"
	}
	return fmtNS(ms * 1e6)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
