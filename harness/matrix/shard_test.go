package matrix

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/machine"
	"coldstart/harness/results"
	"coldstart/plan"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr bool
	}{
		{"", Shard{}, false},
		{"1/1", Shard{1, 1}, false},
		{"2/4", Shard{2, 4}, false},
		{"0/4", Shard{}, true},
		{"5/4", Shard{}, true},
		{"1/0", Shard{}, true},
		{"a/b", Shard{}, true},
		{"3", Shard{}, true},
	}
	for _, tt := range tests {
		got, err := ParseShard(tt.in)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestShardsPartitionTheUnits(t *testing.T) {
	kernels := []string{"a", "b", "c", "d", "e", "f", "g"}
	for _, boots := range []int{1, 3, 5} {
		for n := 1; n <= 9; n++ {
			all := Units(kernels, boots)
			seen := map[Unit]int{}
			for i := 1; i <= n; i++ {
				s := Shard{I: i, N: n}
				got := s.Select(all)
				// Stable: the same call gives the same slice.
				assert.Equal(t, got, s.Select(Units(kernels, boots)))
				// Balanced within one unit.
				assert.InDelta(t, float64(len(all))/float64(n), float64(len(got)), 1, "shard %v of %d units", s, len(all))
				for _, u := range got {
					seen[u]++
				}
			}
			require.Len(t, seen, len(all), "n=%d boots=%d", n, boots)
			for u, c := range seen {
				assert.Equal(t, 1, c, "unit %v in %d shards", u, c)
			}
		}
	}
}

func TestUnitsInterleaveKernels(t *testing.T) {
	assert.Equal(t, []Unit{{"a", 0}, {"b", 0}, {"a", 1}, {"b", 1}}, Units([]string{"a", "b"}, 2))
}

func shardFile(kernel string, boots []int, plan results.Plan) *results.File {
	f := &results.File{Schema: results.Schema, Kernel: results.Kernel{Name: kernel, SHA256: "abc"}, Accel: "tcg", Plan: plan,
		Started: time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)}
	samples := map[int]map[string][]results.Sample{}
	for _, b := range boots {
		f.Boots = append(f.Boots, results.Boot{Index: b, Status: results.StatusOK, Release: "6.1.0"})
		samples[b] = map[string][]results.Sample{}
		for _, s := range plan.Scenarios {
			for i := 0; i < plan.Iterations; i++ {
				samples[b][s] = append(samples[b][s], results.Sample{Boot: b, Iter: i, WallNS: int64(1000*b + i), OpNS: 1})
			}
		}
	}
	f.Rebuild(samples)
	return f
}

func TestMergeJoinsShards(t *testing.T) {
	plan := results.Plan{Plan: plan.Plan{Scenarios: []string{"netns", "ipcns"}, Boots: 3, Iterations: 2}}
	d1, d2, out := t.TempDir(), t.TempDir(), t.TempDir()
	require.NoError(t, results.Write(filepath.Join(d1, "k.json"), shardFile("k", []int{0, 2}, plan)))
	require.NoError(t, results.Write(filepath.Join(d2, "k.json"), shardFile("k", []int{1}, plan)))

	files, err := Merge(out, []string{d1, d2}, io.Discard)
	require.NoError(t, err)
	require.Len(t, files, 1)
	got, err := results.Read(filepath.Join(out, "k.json"))
	require.NoError(t, err)
	assert.True(t, got.Complete)
	require.Len(t, got.Boots, 3)
	for i, b := range got.Boots {
		assert.Equal(t, i, b.Index)
	}
	assert.Len(t, got.Scenarios["netns"].Samples, 6)
	assert.Equal(t, results.StatusOK, got.Scenarios["ipcns"].Status)

	// A missing shard leaves the merge incomplete; a shard given twice is refused.
	_, err = Merge(t.TempDir(), []string{d1}, io.Discard)
	require.NoError(t, err)
	_, err = Merge(t.TempDir(), []string{d1, d1}, io.Discard)
	assert.ErrorContains(t, err, "given twice")
	// Different plans do not merge.
	other := plan
	other.Iterations = 5
	d3 := t.TempDir()
	require.NoError(t, results.Write(filepath.Join(d3, "k.json"), shardFile("k", []int{1}, other)))
	_, err = Merge(t.TempDir(), []string{d1, d3}, io.Discard)
	assert.ErrorContains(t, err, "same flags")
	_, err = Merge(t.TempDir(), []string{t.TempDir()}, io.Discard)
	assert.ErrorContains(t, err, "no result files")
}

// Shards must come from one machine class and accelerator; other
// differences, and files without a fingerprint, are warned about.
func TestMergeRefusesOtherMachines(t *testing.T) {
	plan := results.Plan{Plan: plan.Plan{Scenarios: []string{"netns"}, Boots: 2, Iterations: 2}}
	fp := func(edit func(*machine.Fingerprint)) *machine.Fingerprint {
		m := &machine.Fingerprint{CPUModel: "AMD EPYC 7763 64-Core Processor", HostCPUs: 4, HostKernel: "6.8.0-1017-azure",
			QEMU: "QEMU emulator version 8.2.2", Accel: "tcg", VCPUs: 2, MemoryMB: 1024}
		if edit != nil {
			edit(m)
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		other  *machine.Fingerprint
		refuse string // "" = merges
		warns  string
	}{
		{"same machine", fp(nil), "", ""},
		{"another CPU model", fp(func(m *machine.Fingerprint) { m.CPUModel = "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz" }), "CPU model", ""},
		{"another accelerator", fp(func(m *machine.Fingerprint) { m.Accel = "kvm" }), "accelerator", ""},
		{"more guest memory", fp(func(m *machine.Fingerprint) { m.MemoryMB = 2048 }), "guest memory MiB", ""},
		{"another host kernel", fp(func(m *machine.Fingerprint) { m.HostKernel = "6.11.0-1018-azure" }), "", "host kernel"},
		{"no fingerprint", nil, "", "records no machine fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d1, d2 := t.TempDir(), t.TempDir()
			a, b := shardFile("k", []int{0}, plan), shardFile("k", []int{1}, plan)
			a.Machine, b.Machine = fp(nil), tc.other
			a.Accel = "tcg"
			b.Accel = "tcg"
			if tc.other != nil {
				b.Accel = tc.other.Accel
			}
			require.NoError(t, results.Write(filepath.Join(d1, "k.json"), a))
			require.NoError(t, results.Write(filepath.Join(d2, "k.json"), b))
			var warn strings.Builder
			files, err := Merge(t.TempDir(), []string{d1, d2}, &warn)
			if tc.refuse != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.refuse)
				assert.Contains(t, err.Error(), "different machine classes")
				return
			}
			require.NoError(t, err)
			require.Len(t, files, 1)
			assert.Equal(t, fp(nil), files[0].Machine, "the merged file keeps the class's fingerprint")
			if tc.warns == "" {
				assert.Empty(t, warn.String())
			} else {
				assert.Contains(t, warn.String(), tc.warns)
			}
		})
	}
}
