package agent

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"coldstart/event"
)

// Settling and calibrating, around every scenario.
//
// Scenarios leave work behind them: a network namespace is torn down by a
// work queue after its last process exits, an IPC namespace is freed by
// another, RCU callbacks run later. Under single-threaded TCG the guest's
// vCPUs take turns on one host thread, so that work, running on the other
// vCPU, slowed whichever scenario came next by a different amount in every
// boot. settle waits until the guest is idle before a scenario starts and
// before the calibration that follows it.
//
// The guest's speed also moves with the host's load between boots, by 30%
// and more on a shared machine, and every scenario of a boot moves with
// it. calibrate times a fixed piece of user-space work that makes no system
// call and touches no new memory, so that no kernel change alters its cost:
// the host divides each boot's timings by it (package compare).

const (
	// settleWindow is how long the guest must stay idle; settleMax bounds
	// the wait.
	settleWindow = 100 * time.Millisecond
	settleMax    = 5 * time.Second
	// settleBusy is the largest share of busy CPU time that still counts
	// as idle (the agent's own wake-ups, timer ticks).
	settleBusy = 0.05
	// calibrateRuns runs of calibrateWork steps are timed before and after
	// each scenario: about 2 ms each natively and 2.7 ms under TCG, long
	// enough that the runs together see the host's scheduler take the
	// guest off the CPU about as often as the scenario does (the host
	// uses their mean). With 0.5 ms runs their median missed most of it
	// and took out only a fifth of the boot-to-boot spread on a loaded
	// host; the mean of the same runs took out half.
	calibrateRuns = 5
	calibrateWork = 1_000_000
)

// cpuTimes reads the busy and total jiffies of all CPUs from /proc/stat.
func cpuTimes(procDir string) (busy, total uint64, ok bool) {
	f, err := os.Open(filepath.Join(procDir, "stat"))
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[0] != "cpu" {
			continue
		}
		// user nice system idle iowait irq softirq steal ...
		for i, s := range fields[1:] {
			if i >= 8 {
				break
			}
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return 0, 0, false
			}
			total += v
			if i != 3 && i != 4 { // idle, iowait
				busy += v
			}
		}
		return busy, total, true
	}
	return 0, 0, false
}

// settle waits until the guest's CPUs were idle for a whole settleWindow,
// at most settleMax, and returns how long it waited and whether the guest
// did become idle. Without a readable /proc/stat (tests, a bare /proc) it
// returns at once.
func settle(ctx context.Context, procDir string) (time.Duration, bool) {
	start := time.Now()
	busy0, total0, ok := cpuTimes(procDir)
	if !ok {
		return 0, true
	}
	for {
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-time.After(settleWindow):
		}
		busy, total, ok := cpuTimes(procDir)
		if !ok || total == total0 {
			return time.Since(start), true // the counters do not move: nothing to wait for
		}
		if float64(busy-busy0) <= settleBusy*float64(total-total0) {
			return time.Since(start), true
		}
		if time.Since(start) >= settleMax {
			return time.Since(start), false
		}
		busy0, total0 = busy, total
	}
}

// calibrationSink keeps the compiler from dropping the work.
var calibrationSink uint64

// calibrationWork is the fixed piece of work: an xorshift generator
// feeding a 4 KiB table that stays in the L1 cache. No system calls, no
// allocation, no new pages.
//
//go:noinline
func calibrationWork(steps int) uint64 {
	var table [512]uint64
	x := uint64(88172645463325252)
	for i := 0; i < steps; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		table[x&511] += x
	}
	return x ^ table[x>>55]
}

// calibrate times calibrateRuns runs of the work, in nanoseconds.
func calibrate() []int64 {
	out := make([]int64, calibrateRuns)
	for i := range out {
		start := time.Now()
		calibrationSink += calibrationWork(calibrateWork)
		out[i] = time.Since(start).Nanoseconds()
	}
	return out
}

// between is one settle-and-calibrate, taken between two scenarios.
type between struct {
	settled time.Duration
	idle    bool
	loops   []int64
}

// measure settles and calibrates once.
func measure(ctx context.Context, procDir string) *between {
	waited, idle := settle(ctx, procDir)
	return &between{settled: waited, idle: idle, loops: calibrate()}
}

// addTo records m in c.
func (m *between) addTo(c *event.Calibration) {
	c.SettleNS = append(c.SettleNS, m.settled.Nanoseconds())
	if !m.idle {
		c.Unsettled++
	}
	c.LoopNS = append(c.LoopNS, m.loops...)
}
