package bisect

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"coldstart/harness/kernels"
	"coldstart/harness/matrix"
	"coldstart/harness/results"
)

// The real Measurer runs one VM at a time over matrix.Units, which orders
// the units boot-major: base, head, base, head, ...
func TestQEMUMeasurerAlternates(t *testing.T) {
	var got matrix.Options
	m := &QEMUMeasurer{Accel: "tcg", Scenarios: []string{"ipcns"}, Iterations: 5,
		run: func(_ context.Context, o matrix.Options) ([]*results.File, error) {
			got = o
			var fs []*results.File
			for _, t := range o.Targets {
				fs = append(fs, &results.File{Kernel: results.Kernel{Name: t.Kernel.Name}, Boots: []results.Boot{{Status: results.StatusOK}}})
			}
			return fs, nil
		}}
	im := &kernels.Image{BzImage: "/x"}
	ts := []matrix.Target{{Kernel: kernels.Kernel{Name: "base"}, Image: im}, {Kernel: kernels.Kernel{Name: "head"}, Image: im}}
	if _, err := m.Measure(context.Background(), ts, 3, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if got.Jobs != 1 || got.Boots != 3 || got.Targets[0].Kernel.Name != "base" || got.Targets[1].Kernel.Name != "head" {
		t.Fatalf("matrix options: jobs %d, boots %d, targets %v", got.Jobs, got.Boots, got.Targets)
	}
	var order []string
	for _, u := range got.Shard.Select(matrix.Units([]string{"base", "head"}, got.Boots)) {
		order = append(order, fmt.Sprintf("%s/%d", u.Kernel, u.Boot))
	}
	want := []string{"base/0", "head/0", "base/1", "head/1", "base/2", "head/2"}
	if !slices.Equal(order, want) {
		t.Errorf("unit order %v, want %v", order, want)
	}
}

func TestQEMUMeasurerNoGoodBoot(t *testing.T) {
	m := &QEMUMeasurer{Accel: "tcg", run: func(_ context.Context, o matrix.Options) ([]*results.File, error) {
		return []*results.File{{Kernel: results.Kernel{Name: "k"}, Boots: []results.Boot{{Status: results.StatusFailed}}}}, matrix.ErrBootsFailed
	}}
	_, err := m.Measure(context.Background(), []matrix.Target{{Image: &kernels.Image{}}}, 1, t.TempDir())
	if err == nil {
		t.Fatal("no error when no boot worked")
	}
}
