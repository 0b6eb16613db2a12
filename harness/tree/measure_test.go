package tree

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"coldstart/harness/kernels"
	"coldstart/harness/matrix"
	"coldstart/harness/results"
	"coldstart/plan"
)

// The real Measurer runs one VM at a time over matrix.Units, which orders
// the units boot-major: base, head, base, head, ...
func TestQEMUMeasurerAlternates(t *testing.T) {
	var got matrix.Options
	m := &QEMUMeasurer{Accel: "tcg", Plan: plan.Plan{Scenarios: []string{"ipcns"}, Iterations: 5, SlowIterations: 4, SlowWarmups: 1},
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
	if got.Jobs != 1 || got.Boots != 3 || got.Targets[0].Kernel.Name != "base" || got.Targets[1].Kernel.Name != "head" || got.Trace != 0 {
		t.Fatalf("matrix options: jobs %d, boots %d, targets %v, trace %d", got.Jobs, got.Boots, got.Targets, got.Trace)
	}
	if got.SlowIterations != 4 || got.SlowWarmups != 1 {
		t.Fatalf("slow scenarios: %d iterations, %d warm-ups; want the measurer's 4 and 1", got.SlowIterations, got.SlowWarmups)
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

// A traced QEMUMeasurer asks the matrix for traces; the original does not
// change.
func TestQEMUMeasurerTraced(t *testing.T) {
	var got []int
	m := &QEMUMeasurer{Accel: "tcg", run: func(_ context.Context, o matrix.Options) ([]*results.File, error) {
		got = append(got, o.Trace)
		return []*results.File{{Kernel: results.Kernel{Name: "k"}, Boots: []results.Boot{{Status: results.StatusOK}}}}, nil
	}}
	tm, err := Traced(m, 3)
	if err != nil {
		t.Fatal(err)
	}
	ts := []matrix.Target{{Kernel: kernels.Kernel{Name: "k"}, Image: &kernels.Image{BzImage: "/x"}}}
	for _, x := range []Measurer{tm, m} {
		if _, err := x.Measure(context.Background(), ts, 1, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, []int{3, 0}) {
		t.Errorf("matrix Trace %v, want [3 0]", got)
	}
	if _, err := Traced(struct{ Measurer }{m}, 3); !errors.Is(err, ErrCannotTrace) {
		t.Errorf("a measurer without Traced: err %v, want ErrCannotTrace", err)
	}
}
