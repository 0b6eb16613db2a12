package matrix

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"coldstart/harness/results"
	"coldstart/stats"
)

// WriteTimes prints where the boots' wall time went, as the host saw it:
// per kernel the median boot to the agent's hello, the agent's
// preparation, the scenarios, the shutdown and the whole; then per
// scenario, over the good boots of every kernel, the median of its whole
// span and of its parts: the waits for an idle guest (settle), the
// calibration loops, the timed iterations (the sum of their wall_ns), and
// the rest (warm-ups, tracing, starting processes, sending events). The
// guest's parts are on its own clock, which keeps within a few ms of the
// host's over seconds. Files from before the timeline was recorded print
// nothing.
func WriteTimes(w io.Writer, files []*results.File) error {
	type parts struct{ total, settle, cal, timed, other []float64 }
	per := map[string]*parts{}
	var order []string
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := false
	for _, f := range files {
		timed := map[string]map[int][]float64{}
		for name, s := range f.Scenarios {
			timed[name] = s.ByBoot(results.Wall)
		}
		var hello, prep, scen, shut, total []float64
		for _, b := range f.Boots {
			if b.Status != results.StatusOK || b.ScenarioMS == nil {
				continue
			}
			hello = append(hello, b.HelloMS)
			prep = append(prep, b.PrepareMS)
			shut = append(shut, b.ShutdownMS)
			total = append(total, b.DurationMS)
			sum := 0.0
			for name, spent := range b.ScenarioMS {
				sum += spent
				p := per[name]
				if p == nil {
					p = &parts{}
					per[name] = p
					order = append(order, name)
				}
				var settle, cal float64
				if c := b.Calibration[name]; c != nil {
					waits, loops := c.SettleNS, c.LoopNS
					if c.Shared && len(waits) == 2 {
						// The first wait and runs took place in
						// the previous scenario's span.
						waits, loops = waits[1:], loops[len(loops)/2:]
					}
					settle, cal = sumMS(waits), sumMS(loops)
				}
				ran := 0.0
				for _, ns := range timed[name][b.Index] {
					ran += ns / 1e6
				}
				p.total = append(p.total, spent)
				p.settle = append(p.settle, settle)
				p.cal = append(p.cal, cal)
				p.timed = append(p.timed, ran)
				p.other = append(p.other, math.Max(0, spent-settle-cal-ran))
			}
			scen = append(scen, sum)
		}
		if len(total) == 0 {
			continue
		}
		if !header {
			fmt.Fprintln(w, "where the time went (medians of good boots, seconds):")
			fmt.Fprintln(tw, "  kernel\tboots\tto hello\tprepare\tscenarios\tshutdown\tboot in all\t")
			header = true
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", f.Kernel.Name, len(total),
			secs(hello), secs(prep), secs(scen), secs(shut), secs(total))
	}
	if !header {
		return nil
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	sort.SliceStable(order, func(i, j int) bool {
		return stats.Median(per[order[i]].total) > stats.Median(per[order[j]].total)
	})
	fmt.Fprintln(tw, "  scenario\tspan\tsettle\tcalibration\ttimed\tthe rest\t")
	for _, name := range order {
		p := per[name]
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t\n", name, secs(p.total), secs(p.settle), secs(p.cal), secs(p.timed), secs(p.other))
	}
	return tw.Flush()
}

func sumMS(ns []int64) float64 {
	t := 0.0
	for _, v := range ns {
		t += float64(v) / 1e6
	}
	return t
}

// secs renders the median of ms values in seconds.
func secs(ms []float64) string {
	if len(ms) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", stats.Median(ms)/1000)
}

// eta counts a run's boots to estimate the time left: the wall time so far
// per finished boot, times the boots still to run. Boots run o.Jobs at a
// time, so the wall time already accounts for them.
type eta struct {
	mu          sync.Mutex
	start       time.Time
	done, total int
}

// add counts n more boots to run.
func (e *eta) add(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.start.IsZero() {
		e.start = time.Now()
	}
	e.total += n
}

// finished counts one boot as run and says where the run stands:
// "3 of 20 boots, about 12 min left".
func (e *eta) finished() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done++
	left := time.Duration(float64(time.Since(e.start)) / float64(e.done) * float64(e.total-e.done))
	switch {
	case e.done >= e.total:
		return fmt.Sprintf("%d of %d boots", e.done, e.total)
	case left < time.Minute:
		return fmt.Sprintf("%d of %d boots, about %d s left", e.done, e.total, int(left.Seconds()+0.5))
	}
	return fmt.Sprintf("%d of %d boots, about %d min left", e.done, e.total, int(left.Minutes()+0.5))
}
