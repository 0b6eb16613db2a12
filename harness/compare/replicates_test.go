package compare

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"coldstart/harness/results"
	"coldstart/stats"
)

// virtualRun reads testdata/virtual/debian-6.1-cloud.json, a real run
// (coldstart matrix --kernels debian-6.1-cloud --clock virtual --cpus 1
// --boots 2: every sample of boot 1 equals boot 0's), with each scenario
// of step scaled by its factor and, for the scenarios in differ, boot 1
// moved by 1% as a guest that read a real clock would be.
func virtualRun(t *testing.T, step map[string]float64, differ ...string) *results.File {
	t.Helper()
	f, err := results.Read("testdata/virtual/debian-6.1-cloud.json")
	require.NoError(t, err)
	for name, sc := range f.Scenarios {
		s := step[name]
		if s == 0 {
			s = 1
		}
		for i := range sc.Samples {
			x := &sc.Samples[i]
			m := s
			if x.Boot == 1 && strings.Contains(" "+strings.Join(differ, " ")+" ", " "+name+" ") {
				m *= 1.01
			}
			x.WallNS, x.OpNS = int64(float64(x.WallNS)*m), int64(float64(x.OpNS)*m)
		}
	}
	return f
}

// oneBoot keeps boot 0 of f.
func oneBoot(f *results.File) *results.File {
	for _, sc := range f.Scenarios {
		var kept []results.Sample
		for _, x := range sc.Samples {
			if x.Boot == 0 {
				kept = append(kept, x)
			}
		}
		sc.Samples = kept
	}
	f.Boots = f.Boots[:1]
	return f
}

func TestVirtualReplicates(t *testing.T) {
	wall, err := results.Read("testdata/virtual/debian-6.1-cloud.json")
	require.NoError(t, err)
	wall.Plan.Clock = ""
	for _, tc := range []struct {
		name       string
		file       *results.File
		scenario   string
		wantGroups int
		wantPerGrp int
		wantNote   string
	}{
		{"copies: the iterations of one boot", virtualRun(t, nil), "ipcns", 30, 1, "2 identical boots: the 30 iterations of one are the replicates"},
		{"one boot: its iterations, and a hint", oneBoot(virtualRun(t, nil)), "ipcns", 30, 1, "1 boot: its 30 iterations are the replicates"},
		{"boots differ: the boots", virtualRun(t, nil, "netns"), "netns", 2, 30, "its 2 boots differ in netns: the boots are the replicates"},
		{"wall clock: the boots", wall, "ipcns", 2, 30, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, boots, _ := Groups(tc.file, tc.scenario, "wall")
			require.Len(t, g, tc.wantGroups)
			require.Len(t, boots, tc.wantGroups, "one boot index per group, for Speeds")
			for _, x := range g {
				require.Len(t, x, tc.wantPerGrp)
			}
			note := ReplicateNote(tc.file, tc.scenario, "wall")
			if tc.wantNote == "" {
				require.Empty(t, note)
			} else {
				require.Contains(t, note, tc.wantNote)
			}
		})
	}
}

// On the virtual clock the verdicts rest on iterations: a run against
// itself is the same, and a 20% step in one scenario is found with one
// boot a side, where ranking identical per-boot medians could never
// reach α. Only the kernel primitives (30 iterations a boot) are checked:
// the container scenarios' 5 iterations are too few for most verdicts.
// ipcns, mqueue and clone-all are bimodal from one iteration to the next
// (a grace period or work item lands in some iterations and not in
// others), so 30 iterations cannot bound their median within ±5%: unknown,
// honestly, even against themselves.
func TestCompareVirtualClock(t *testing.T) {
	prims := []string{"netns", "ipcns", "utsns", "pidns", "mntns", "userns", "cgroupns", "mqueue", "clone-all"}
	want := func(changed map[string]stats.Verdict) map[string]stats.Verdict {
		m := map[string]stats.Verdict{}
		for _, n := range prims {
			m[n] = stats.Same
			if n == "ipcns" || n == "mqueue" || n == "clone-all" {
				m[n] = stats.Unknown
			}
			if v, ok := changed[n]; ok {
				m[n] = v
			}
		}
		return m
	}
	for _, tc := range []struct {
		name string
		base *results.File
		next *results.File
		want map[string]stats.Verdict
	}{
		{"A/A, 2 boots a side", virtualRun(t, nil), virtualRun(t, nil), want(nil)},
		{"+20% ipcns, 1 boot a side", oneBoot(virtualRun(t, nil)), oneBoot(virtualRun(t, map[string]float64{"ipcns": 1.2})),
			want(map[string]stats.Verdict{"ipcns": stats.Regressed})},
		{"-20% netns, 2 boots a side", virtualRun(t, nil), virtualRun(t, map[string]float64{"netns": 0.8}),
			want(map[string]stats.Verdict{"netns": stats.Improved})},
		{"+2% everywhere: inside the band", virtualRun(t, nil), virtualRun(t, map[string]float64{"netns": 1.02, "ipcns": 1.02, "utsns": 1.02, "pidns": 1.02, "mntns": 1.02, "userns": 1.02, "cgroupns": 1.02, "mqueue": 1.02, "clone-all": 1.02}),
			want(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]stats.Verdict{}
			for _, r := range CompareFiles(tc.base, tc.next, DefaultOptions()) {
				if strings.HasPrefix(r.Scenario, "oci-run") || strings.HasPrefix(r.Scenario, "seccomp") {
					continue
				}
				got[r.Scenario] = r.Verdict
			}
			require.Equal(t, tc.want, got)
			require.Contains(t, strings.Join(fileNotes(tc.base, tc.next, DefaultOptions()), "\n"), "are the replicates")
		})
	}
}
