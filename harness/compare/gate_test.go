package compare

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/results"
)

// gateDir holds the gate's result-file fixtures: base/ (debian-6.1-cloud
// with netns, ipcns, utsns ok and userns unsupported; debian-6.12-cloud
// with netns) and one new run directory per case. cmd/coldstart's exit
// code test reads them too. COLDSTART_WRITE_GATE_FIXTURES=1 writes them
// again from gateFixtures.
const gateDir = "testdata/gate"

// gateFixtures makes the fixture run directories: the base, and each
// case's new run as the base's kernels (other seeds) with one change.
func gateFixtures() map[string][]*results.File {
	k61 := func(seed uint64, scales map[string]float64, status map[string]string) *results.File {
		if scales == nil {
			scales = map[string]float64{"netns": 2, "ipcns": 1, "utsns": 0.4}
		}
		if status == nil {
			status = map[string]string{"userns": results.StatusUnsupported}
		}
		return fixture("debian-6.1-cloud", "6.1.192", seed, 5, 4, scales, status)
	}
	k612 := func(seed uint64) *results.File {
		return fixture("debian-6.12-cloud", "6.12.117", seed, 5, 4, map[string]float64{"netns": 1.5}, nil)
	}
	with := func(f *results.File, edit func(*results.File)) *results.File { edit(f); return f }
	ok := map[string]string{"userns": results.StatusUnsupported}
	return map[string][]*results.File{
		"base":      {k61(1, nil, nil), k612(2)},
		"pass":      {k61(3, nil, nil), k612(4)},
		"regressed": {k61(3, map[string]float64{"netns": 3, "ipcns": 1, "utsns": 0.4}, nil), k612(4)},
		"no-ipcns":  {k61(3, map[string]float64{"netns": 2, "utsns": 0.4}, nil), k612(4)},
		"extra-mntns": {with(k61(3, nil, nil), func(f *results.File) {
			f.Scenarios["mntns"] = f.Scenarios["netns"]
			f.Plan.Scenarios = append(f.Plan.Scenarios, "mntns")
		}), k612(4)},
		"userns-ok": {k61(3, map[string]float64{"netns": 2, "ipcns": 1, "utsns": 0.4, "userns": 0.5}, map[string]string{}), k612(4)},
		"ipcns-unsupported": {k61(3, map[string]float64{"netns": 2, "utsns": 0.4},
			map[string]string{"userns": results.StatusUnsupported, "ipcns": results.StatusUnsupported}), k612(4)},
		"ipcns-failed": {k61(3, map[string]float64{"netns": 2, "utsns": 0.4},
			map[string]string{"userns": results.StatusUnsupported, "ipcns": results.StatusFailed}), k612(4)},
		"incomplete":   {with(k61(3, nil, ok), func(f *results.File) { f.Complete = false }), k612(4)},
		"no-6.12":      {k61(3, nil, nil)},
		"extra-kernel": {k61(3, nil, nil), k612(4), fixture("debian-7.2-cloud", "7.2.13", 5, 5, 4, map[string]float64{"netns": 1}, nil)},
		"kvm": {with(k61(3, nil, nil), func(f *results.File) { f.Accel, f.Machine.Accel = "kvm", "kvm" }),
			with(k612(4), func(f *results.File) { f.Accel, f.Machine.Accel = "kvm", "kvm" })},
		"other-cpu": {with(k61(3, nil, nil), func(f *results.File) { f.Machine.CPUModel = "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz" }),
			with(k612(4), func(f *results.File) { f.Machine.CPUModel = "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz" })},
		"other-host-kernel": {with(k61(3, nil, nil), func(f *results.File) { f.Machine.HostKernel = "6.8.0-1017-azure" }),
			with(k612(4), func(f *results.File) { f.Machine.HostKernel = "6.8.0-1017-azure" })},
		"no-fingerprint": {with(k61(3, nil, nil), func(f *results.File) { f.Machine = nil }),
			with(k612(4), func(f *results.File) { f.Machine = nil })},
	}
}

// gateCase is one case of testdata/gate/cases.json: the new run
// directory under gateDir compared with the base (or the other way
// round), the exit status the commands give it (0 pass, 1 regressed, 2
// refused or incomplete) and a phrase the report and the error hold.
// cmd/coldstart runs the same table through the command.
type gateCase struct {
	Name    string `json:"name"`
	Base    string `json:"base"`
	New     string `json:"new"`
	AnyHost bool   `json:"any_host"`
	Exit    int    `json:"exit"`
	Says    string `json:"says"`
}

func gateCases(t *testing.T) []gateCase {
	b, err := os.ReadFile(filepath.Join(gateDir, "cases.json"))
	require.NoError(t, err)
	var cs []gateCase
	require.NoError(t, json.Unmarshal(b, &cs))
	require.NotEmpty(t, cs)
	return cs
}

// gateExit is the exit status for GateErr's error, as cmd/coldstart maps it.
func gateExit(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrRegression):
		return 1
	}
	return 2
}

var nonWord = regexp.MustCompile(`[^a-z0-9.]+`)

func TestWriteGateFixtures(t *testing.T) {
	if os.Getenv("COLDSTART_WRITE_GATE_FIXTURES") == "" {
		t.Skip("COLDSTART_WRITE_GATE_FIXTURES=1 writes " + gateDir + " again")
	}
	for dir, files := range gateFixtures() {
		require.NoError(t, os.MkdirAll(filepath.Join(gateDir, dir), 0o755))
		for _, f := range files {
			require.NoError(t, results.Write(filepath.Join(gateDir, dir, f.Kernel.Name+".json"), f))
		}
	}
}

// TestGate runs every gate case on the fixtures and checks its exit
// status and, against testdata/gate/<case>.txt, what the report says.
func TestGate(t *testing.T) {
	for _, tc := range gateCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			o := DefaultOptions()
			o.AnyHost = tc.AnyHost
			r, err := Compare(filepath.Join(gateDir, tc.Base), filepath.Join(gateDir, tc.New), o)
			require.NoError(t, err)
			gerr := r.GateErr()
			assert.Equal(t, tc.Exit, gateExit(gerr), "%v", gerr)
			var b strings.Builder
			fmt.Fprintf(&b, "exit %d\n", gateExit(gerr))
			if gerr != nil {
				b.WriteString("error: " + gerr.Error() + "\n")
			}
			for _, l := range gateLines(r) {
				b.WriteString(l + "\n")
			}
			var text strings.Builder
			require.NoError(t, WriteText(&text, r))
			assert.Contains(t, text.String(), tc.Says)
			golden(t, filepath.Join("gate", strings.Trim(nonWord.ReplaceAllString(tc.Name, "-"), "-")+".txt"), []byte(b.String()))
		})
	}
}

// Every finding of the gate is in every output format: a CI that reads
// only one of them must fail closed too.
func TestGateInEveryFormat(t *testing.T) {
	r, err := Compare(filepath.Join(gateDir, "base"), filepath.Join(gateDir, "ipcns-unsupported"), DefaultOptions())
	require.NoError(t, err)
	require.Len(t, r.Broken, 1)
	for _, format := range []string{"text", "markdown", "json", "junit", "html"} {
		var b strings.Builder
		require.NoError(t, Write(&b, format, r))
		assert.Contains(t, b.String(), "ran in the base, unsupported in the new run", format)
	}
	assert.True(t, r.Regressed())
}

// matrix --scenarios x,y leaves the others out on purpose: with Planned,
// a scenario the new run did not ask for is a warning, one it asked for
// and lacks is still a gap.
func TestGatePlanned(t *testing.T) {
	base := fixture("k", "6.1", 1, 5, 4, map[string]float64{"netns": 1, "ipcns": 1}, nil)
	next := fixture("k", "6.1", 2, 5, 4, map[string]float64{"netns": 1}, nil)
	r := &Report{Rows: CompareFiles(base, next, DefaultOptions())}
	Gate(r, GateInput{Pairs: []Pair{{base, next}}, Planned: true}, DefaultOptions())
	assert.Empty(t, r.Gaps)
	assert.Equal(t, []string{"ipcns on k: not compared: in the base, but this run did not ask for it"}, r.Warnings)

	next.Plan.Scenarios = append(next.Plan.Scenarios, "ipcns")
	r = &Report{Rows: CompareFiles(base, next, DefaultOptions())}
	Gate(r, GateInput{Pairs: []Pair{{base, next}}, Planned: true}, DefaultOptions())
	require.Len(t, r.Gaps, 1)
	assert.Equal(t, "ipcns", r.Gaps[0].Scenario)
}

// A row whose boots all had a coarse clock has nothing left to compare.
func TestGateNoUsableBoots(t *testing.T) {
	base := fixture("k", "6.1", 1, 5, 4, map[string]float64{"netns": 1}, nil)
	next := fixture("k", "6.1", 2, 2, 4, map[string]float64{"netns": 1}, nil, 0, 1)
	r := &Report{Rows: CompareFiles(base, next, DefaultOptions())}
	Gate(r, GateInput{Pairs: []Pair{{base, next}}}, DefaultOptions())
	require.Len(t, r.Gaps, 1)
	assert.Contains(t, r.Gaps[0].What, "no usable boots (5 in the base, 0 in the new run")
	assert.ErrorIs(t, r.GateErr(), ErrGaps)
}
