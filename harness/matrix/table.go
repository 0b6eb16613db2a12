package matrix

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"coldstart/harness/results"
	"coldstart/internal/duration"
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
	iters := fmt.Sprintf("%d iterations", f.Plan.Iterations)
	if f.Plan.SlowIterations > 0 {
		iters += fmt.Sprintf(" (%d for containers and seccomp)", f.Plan.SlowIterations)
	}
	fmt.Fprintf(w, "%s (%s, %s): %d/%d boots ok x %s, agent up in %s (median)%s\n",
		f.Kernel.Name, orDash(f.Kernel.Release), f.Accel, okBoots, len(f.Boots), iters,
		duration.Format(stats.Median(hello)*1e6), state)
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
			duration.Format(wall.Median), duration.Format(wall.Mean), duration.Format(wall.StdDev), duration.Format(wall.Min), duration.Format(wall.Max),
			duration.Format(stats.Median(op)), duration.Format(stats.Mean(user)), duration.Format(stats.Mean(sys)), wall.N, flag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r := Ratios(f); len(r) > 0 {
		var parts []string
		for _, x := range r {
			parts = append(parts, fmt.Sprintf("%s %.2fx", x.Name, x.Ratio))
		}
		fmt.Fprintf(w, "  ratios of medians, each boot against itself, median over %s: %s\n", plural(r[0].Boots, "boot"), strings.Join(parts, ", "))
	}
	for _, n := range notes {
		if len(n) > 300 {
			n = n[:300] + "..."
		}
		fmt.Fprintln(w, n)
	}
	return nil
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// Ratio compares two scenarios of one kernel, from samples taken in the
// same boots.
type Ratio struct {
	Name  string // "csrun/crun (default)"
	Ratio float64
	Boots int
}

// ratioPairs are the comparisons the matrix table shows: csrun against the
// reference runtimes, and csrun's seccomp cache against compiling.
var ratioPairs = []struct{ name, num, den string }{
	{"csrun/crun (none)", "oci-run/csrun/none", "oci-run/crun/none"},
	{"csrun/crun (default)", "oci-run/csrun/default", "oci-run/crun/default"},
	{"csrun/runc (none)", "oci-run/csrun/none", "oci-run/runc/none"},
	{"csrun/runc (default)", "oci-run/csrun/default", "oci-run/runc/default"},
	{"csrun cached/default", "oci-run/csrun/cached", "oci-run/csrun/default"},
}

// Ratios computes, for each pair both of whose scenarios have samples, the
// median over boots of the ratio of the two per-boot medians: a boot is the
// unit of replication, and pairing within a boot cancels boot-to-boot drift.
func Ratios(f *results.File) []Ratio {
	var out []Ratio
	for _, p := range ratioPairs {
		num, den := f.Scenarios[p.num], f.Scenarios[p.den]
		if num == nil || den == nil {
			continue
		}
		nb, db := num.ByBoot(results.Wall), den.ByBoot(results.Wall)
		var rs []float64
		for b, nv := range nb {
			if dv, ok := db[b]; ok && len(nv) > 0 && len(dv) > 0 {
				if d := stats.Median(dv); d > 0 {
					rs = append(rs, stats.Median(nv)/d)
				}
			}
		}
		if len(rs) > 0 {
			out = append(out, Ratio{Name: p.name, Ratio: stats.Median(rs), Boots: len(rs)})
		}
	}
	return out
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
