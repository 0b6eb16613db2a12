package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"coldstart/event"
	"coldstart/plan"
)

func decodeAll(t *testing.T, b []byte) []*event.Event {
	t.Helper()
	d := event.NewDecoder(bytes.NewReader(b))
	var evs []*event.Event
	for {
		e, err := d.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		evs = append(evs, e)
	}
	require.Zero(t, d.Damaged)
	return evs
}

func TestRunStreamsEvents(t *testing.T) {
	if os.Geteuid() != 0 || runtime.GOARCH != "amd64" {
		t.Skip("needs root on amd64: the scenarios create namespaces")
	}
	// Prepare makes / private: do it in a throwaway mount namespace.
	runtime.LockOSThread() // this thread is left in its namespace; never unlocked, so it dies with the test
	require.NoError(t, unix.Unshare(unix.CLONE_NEWNS))

	var events, console bytes.Buffer
	boot := plan.Boot{Plan: plan.Plan{Scenarios: []string{"utsns", "no-such", "ipcns"}, Iterations: 5, Warmups: 1}, Batch: 2}
	require.NoError(t, Run(context.Background(), Options{Boot: boot, Events: &events, Console: &console}))
	evs := decodeAll(t, events.Bytes())

	require.NotEmpty(t, evs)
	assert.Equal(t, event.TypeHello, evs[0].Type)
	assert.Equal(t, event.Version, evs[0].Hello.Protocol)
	assert.NotEmpty(t, evs[0].Hello.Release)
	last := evs[len(evs)-1]
	require.Equal(t, event.TypeDone, last.Type)
	assert.Empty(t, last.Done.Error)
	assert.Equal(t, len(evs)-1, last.Done.Sent)

	samples := map[string][]event.Sample{}
	cals := map[string]*event.Calibration{}
	var failed []string
	for _, e := range evs {
		switch e.Type {
		case event.TypeCalibration:
			cals[e.Calibration.Scenario] = e.Calibration
		case event.TypeSamples:
			assert.LessOrEqual(t, len(e.Samples), 2, "batch size")
			samples[e.Scenario] = append(samples[e.Scenario], e.Samples...)
		case event.TypeFailed:
			failed = append(failed, e.Scenario)
		}
	}
	assert.Equal(t, []string{"no-such"}, failed)
	for _, name := range []string{"utsns", "ipcns"} {
		require.Len(t, samples[name], 5, name)
		for i, s := range samples[name] {
			assert.Equal(t, i, s.Iter)
			assert.Positive(t, s.OpNS)
			assert.LessOrEqual(t, s.OpNS, s.WallNS)
		}
	}
	assert.Contains(t, console.String(), "utsns")
	// One settle and calibration between two scenarios serves both: the
	// after of utsns is the before of ipcns.
	require.Len(t, cals["utsns"].LoopNS, 2*calibrateRuns)
	require.Len(t, cals["ipcns"].LoopNS, 2*calibrateRuns)
	assert.Equal(t, cals["utsns"].LoopNS[calibrateRuns:], cals["ipcns"].LoopNS[:calibrateRuns])
	assert.Equal(t, cals["utsns"].SettleNS[1], cals["ipcns"].SettleNS[0])
	assert.False(t, cals["utsns"].Shared)
	assert.True(t, cals["ipcns"].Shared)
	assert.NotEqual(t, cals["utsns"].LoopNS[:calibrateRuns], cals["ipcns"].LoopNS[calibrateRuns:])
}

func TestRunFaultCrashSendsNoDone(t *testing.T) {
	var events bytes.Buffer
	err := Run(context.Background(), Options{Boot: plan.Boot{Plan: plan.Plan{Iterations: 1}, Fault: "crash"}, Events: &events})
	assert.Error(t, err)
	evs := decodeAll(t, events.Bytes())
	require.Len(t, evs, 1)
	assert.Equal(t, event.TypeHello, evs[0].Type)
}

func TestDescribeReadsConfigAndClock(t *testing.T) {
	proc, sys := t.TempDir(), t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("CONFIG_NET_NS=y\n"))
	zw.Close()
	require.NoError(t, os.WriteFile(filepath.Join(proc, "config.gz"), gz.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "cmdline"), []byte("console=ttyS0 coldstart.iterations=3\n"), 0o644))
	csDir := filepath.Join(sys, "devices/system/clocksource/clocksource0")
	require.NoError(t, os.MkdirAll(csDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(csDir, "current_clocksource"), []byte("jiffies\n"), 0o644))
	h := Describe(proc, sys)
	assert.Equal(t, "CONFIG_NET_NS=y\n", h.Config)
	assert.Equal(t, "jiffies", h.Clocksource)
	assert.Equal(t, "console=ttyS0 coldstart.iterations=3", h.Cmdline)
	assert.Positive(t, h.ClockResNS)
	assert.Positive(t, h.UptimeNS)
}

// TestTraceOffDuringTiming runs two scenarios with coldstart.trace on a
// fake tracefs and checks, before every timed iteration, that no tracer is
// installed: the first scenario's tracing pass must not leak into the
// second scenario's timing, and no pass may come before its timed loop.
func TestTraceOffDuringTiming(t *testing.T) {
	if os.Geteuid() != 0 || runtime.GOARCH != "amd64" {
		t.Skip("needs root on amd64: the scenarios create namespaces")
	}
	runtime.LockOSThread() // left in its own mount namespace; dies with the test
	require.NoError(t, unix.Unshare(unix.CLONE_NEWNS))

	dir := t.TempDir()
	for name, body := range map[string]string{
		"available_tracers": "function_graph nop\n", "available_filter_functions": "__x64_sys_clone\n__x64_sys_wait4\n",
		"current_tracer": "nop\n", "tracing_on": "1\n", "trace": "", "set_graph_function": "",
		"max_graph_depth": "0\n", "buffer_size_kb": "1408\n", "set_ftrace_pid": "",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	timed := 0
	var events bytes.Buffer
	o := Options{
		Boot:     plan.Boot{Plan: plan.Plan{Scenarios: []string{"utsns", "ipcns"}, Iterations: 4, Warmups: 1, Trace: 2}, Batch: 10},
		Events:   &events,
		TraceDir: dir,
		onTimed: func(name string, i int) {
			timed++
			b, err := os.ReadFile(filepath.Join(dir, "current_tracer"))
			require.NoError(t, err)
			assert.Equal(t, "nop", strings.TrimSpace(string(b)), "%s timed iteration %d ran with a tracer", name, i)
		},
	}
	require.NoError(t, Run(context.Background(), o))
	assert.Equal(t, 8, timed)

	var traces []*event.Trace
	for _, e := range decodeAll(t, events.Bytes()) {
		if e.Type == event.TypeTrace {
			require.NoError(t, e.Validate())
			traces = append(traces, e.Trace)
		}
	}
	require.Len(t, traces, 2)
	for i, name := range []string{"utsns", "ipcns"} {
		tr := traces[i]
		assert.Equal(t, name, tr.Scenario)
		assert.Empty(t, tr.Error)
		assert.Equal(t, 2, tr.Iterations)
		assert.Equal(t, []string{"__x64_sys_clone", "__x64_sys_wait4"}, tr.Roots)
		require.Len(t, tr.Timed, 2)
		for _, st := range tr.Timed {
			assert.True(t, event.Untraced(st), st)
		}
	}
}
