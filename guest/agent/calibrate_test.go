package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/event"
)

func TestCPUTimes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stat        string
		busy, total uint64
		ok          bool
	}{
		{"kernel 6.1", "cpu  10 1 20 300 4 5 6 7 0 0\ncpu0 5 0 10 150 2 2 3 3 0 0\n", 10 + 1 + 20 + 5 + 6 + 7, 353, true},
		{"kernel 4.5, fewer fields", "cpu  10 1 20 300 4 5 6\n", 10 + 1 + 20 + 5 + 6, 346, true},
		{"no cpu line", "intr 1 2 3\n", 0, 0, false},
		{"garbage", "cpu  10 x 20 300 4\n", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(tc.stat), 0o644))
			busy, total, ok := cpuTimes(dir)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.busy, busy)
			assert.Equal(t, tc.total, total)
		})
	}
	_, _, ok := cpuTimes(t.TempDir())
	assert.False(t, ok, "no /proc/stat")
}

// fakeStat writes a /proc/stat whose counters a goroutine advances, busy
// while busy() is true.
func fakeStat(t *testing.T, busy func() bool) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "stat")
	write := func(b, i uint64) {
		require.NoError(t, os.WriteFile(path+".tmp", fmt.Appendf(nil, "cpu  %d 0 0 %d 0 0 0 0 0 0\n", b, i), 0o644))
		require.NoError(t, os.Rename(path+".tmp", path))
	}
	write(0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		var b, i uint64
		for ctx.Err() == nil {
			if busy() {
				b += 10
			} else {
				i += 10
			}
			write(b, i)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return dir
}

func TestSettleWaitsForIdle(t *testing.T) {
	var busy atomic.Bool
	busy.Store(true)
	dir := fakeStat(t, busy.Load)
	time.AfterFunc(350*time.Millisecond, func() { busy.Store(false) })
	waited, idle := settle(context.Background(), dir)
	assert.True(t, idle)
	assert.GreaterOrEqual(t, waited, 350*time.Millisecond, "returned while the guest was busy")
}

func TestSettleReturnsAtOnceWithoutStat(t *testing.T) {
	waited, idle := settle(context.Background(), t.TempDir())
	assert.True(t, idle)
	assert.Zero(t, waited)
}

func TestSettleGivesUpWhenCancelled(t *testing.T) {
	dir := fakeStat(t, func() bool { return true })
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	_, idle := settle(ctx, dir)
	assert.False(t, idle, "a guest that never goes idle")
}

func TestCalibrationWorkIsFixed(t *testing.T) {
	// The same work every time: a change here changes every calibrated
	// figure, so the result is pinned.
	assert.Equal(t, calibrationWork(calibrateWork), calibrationWork(calibrateWork))
	assert.NotEqual(t, calibrationWork(calibrateWork), calibrationWork(calibrateWork-1))
	c := &event.Calibration{Scenario: "netns"}
	measure(context.Background(), t.TempDir()).addTo(c)
	measure(context.Background(), t.TempDir()).addTo(c)
	assert.Len(t, c.LoopNS, 2*calibrateRuns)
	assert.Len(t, c.SettleNS, 2)
	for _, ns := range c.LoopNS {
		assert.Positive(t, ns)
	}
	assert.NoError(t, (&event.Event{Type: event.TypeCalibration, Calibration: c}).Validate())
}
