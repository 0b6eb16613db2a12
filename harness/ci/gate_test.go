package ci_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"coldstart/harness/ci"
	"coldstart/harness/compare"
	"coldstart/harness/matrix"
	"coldstart/harness/results"
	"coldstart/harness/tree"
)

// edited is a Measurer whose files are changed before ci sees them.
type edited struct {
	tree.Measurer
	edit func(base, head *results.File)
}

func (e edited) Measure(ctx context.Context, ts []matrix.Target, boots int, dir string) ([]*results.File, error) {
	files, err := e.Measurer.Measure(ctx, ts, boots, dir)
	if err == nil {
		e.edit(files[0], files[1])
	}
	return files, err
}

// ci goes through the gate like compare: a harmless head whose run is
// incomplete, or whose scenario turned unsupported, must not pass.
func TestCIGate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(base, head *results.File)
		want error // nil: passes
		says string
	}{
		{"harmless head", func(_, _ *results.File) {}, nil, ""},
		{"a head boot failed", func(_, h *results.File) { h.Complete = false }, compare.ErrGaps, "the new run"},
		{"a base boot failed", func(b, _ *results.File) { b.Complete = false }, compare.ErrGaps, "the base run"},
		{"the head cannot run the scenario", func(_, h *results.File) {
			h.Scenarios[scenario] = &results.Scenario{Status: results.StatusUnsupported, Reason: "clone: EINVAL"}
		}, compare.ErrRegression, "ran in the base, unsupported in the new run"},
		{"the base lacks the scenario", func(b, _ *results.File) { delete(b.Scenarios, scenario) }, compare.ErrGaps, "not in the base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.opts.Base, f.opts.Head = f.commits[6], f.commits[8]
			f.opts.Measurer = edited{f.meas, tc.edit}
			r, err := ci.Run(context.Background(), f.opts)
			if err != nil {
				t.Fatal(err)
			}
			gerr := r.Report.GateErr()
			if !errors.Is(gerr, tc.want) || (tc.want == nil) != (gerr == nil) {
				t.Fatalf("GateErr = %v, want %v", gerr, tc.want)
			}
			if tc.want == nil {
				return
			}
			md, _ := os.ReadFile(r.Markdown)
			if !strings.Contains(gerr.Error(), tc.says) || !strings.Contains(string(md), tc.says) {
				t.Errorf("error and report should say %q:\n%v\n%s", tc.says, gerr, md)
			}
		})
	}
}
