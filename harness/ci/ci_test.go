package ci_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coldstart/harness/ci"
	"coldstart/harness/compare"
	"coldstart/harness/tree"
	"coldstart/harness/tree/treetest"
)

const scenario = "ipcns"

type fixture struct {
	repo    string
	commits []string
	opts    ci.Options
	builder *treetest.Builder
	meas    *treetest.Measurer
}

// 9 commits, commit 5 adds the delay.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	f := &fixture{builder: &treetest.Builder{},
		meas: &treetest.Measurer{Scenario: scenario, Good: 10e6, Bad: 20e6, BootSpread: 0.1}}
	f.repo, f.commits = treetest.Repo(t, 9, 5)
	w, err := tree.OpenWorkspace(context.Background(), f.repo, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	f.opts = ci.Options{Work: w, Boots: 6, Compare: compare.DefaultOptions(), Builder: f.builder, Measurer: f.meas, Out: t.TempDir()}
	return f
}

// patchDir is git format-patch of one commit of the repository.
func (f *fixture) patchDir(t *testing.T, commit string) string {
	dir := t.TempDir()
	treetest.Git(t, f.repo, "format-patch", "--quiet", "-1", "-o", dir, commit)
	return dir
}

func TestHeadWithTheDelayRegresses(t *testing.T) {
	f := newFixture(t)
	f.opts.Base, f.opts.Head = f.commits[4], f.commits[5]
	r, err := ci.Run(context.Background(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Regressed() {
		t.Errorf("not regressed: %+v", r.Report.Rows)
	}
	junit, _ := os.ReadFile(r.JUnit)
	md, _ := os.ReadFile(r.Markdown)
	if !strings.Contains(string(junit), "<failure") || !strings.Contains(string(md), "regressed") {
		t.Errorf("reports do not show the regression:\n%s\n%s", junit, md)
	}
}

// Base and head boot alternately: base 0, head 0, base 1, head 1, ...
func TestBootsAlternate(t *testing.T) {
	f := newFixture(t)
	f.opts.Base, f.opts.Head = f.commits[4], f.commits[6]
	if _, err := ci.Run(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	if len(f.meas.Order) != 12 {
		t.Fatalf("%d boots, want 12: %v", len(f.meas.Order), f.meas.Order)
	}
	for i, u := range f.meas.Order {
		want := "base-"
		if i%2 == 1 {
			want = "head-"
		}
		if !strings.HasPrefix(u, want) {
			t.Fatalf("boot %d is %s, want %s...: order %v", i, u, want, f.meas.Order)
		}
	}
}

func TestPatchSeries(t *testing.T) {
	f := newFixture(t)
	userHead := treetest.Git(t, f.repo, "rev-parse", "HEAD")
	for _, tc := range []struct {
		name    string
		patch   string
		regress bool
	}{
		{"the delay", f.commits[5], true},
		{"a harmless change", f.commits[7], false},
	} {
		o := f.opts
		o.Base, o.Patches, o.Out = f.commits[4], f.patchDir(t, tc.patch), t.TempDir()
		r, err := ci.Run(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Regressed() != tc.regress {
			t.Errorf("%s: regressed = %v, want %v", tc.name, r.Regressed(), tc.regress)
		}
		if r.Head == f.commits[4] || r.Head == tc.patch {
			t.Errorf("%s: head %s is not a new commit on base", tc.name, r.Head)
		}
	}
	if got := treetest.Git(t, f.repo, "rev-parse", "HEAD"); got != userHead {
		t.Errorf("the user's HEAD moved")
	}
	if st := treetest.Git(t, f.repo, "status", "--porcelain"); st != "" {
		t.Errorf("the user's tree changed:\n%s", st)
	}
}

func TestPatchThatDoesNotApply(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "0001-x.patch"), []byte("From 0 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\n---\n--- a/nope.c\n+++ b/nope.c\n@@ -1 +1 @@\n-a\n+b\n"), 0o644)
	f.opts.Base, f.opts.Patches = f.commits[4], dir
	_, err := ci.Run(context.Background(), f.opts)
	var ie *ci.InfraError
	if !errors.As(err, &ie) || ie.Stage != "apply patches" {
		t.Fatalf("err = %v, want an InfraError at apply patches", err)
	}
}

func TestBuildFailureIsInfra(t *testing.T) {
	f := newFixture(t)
	f.builder.Fail = map[string]bool{"commit 6": true}
	f.opts.Base, f.opts.Head = f.commits[4], f.commits[6]
	_, err := ci.Run(context.Background(), f.opts)
	var ie *ci.InfraError
	if !errors.As(err, &ie) || ie.Stage != "build head" || !strings.Contains(err.Error(), "error: expected ';'") {
		t.Fatalf("err = %v, want an InfraError at build head with the log tail", err)
	}
}

func TestBootFailureIsInfra(t *testing.T) {
	f := newFixture(t)
	f.meas.FailBoot = map[string]bool{f.commits[6]: true}
	f.opts.Base, f.opts.Head = f.commits[4], f.commits[6]
	_, err := ci.Run(context.Background(), f.opts)
	var ie *ci.InfraError
	if !errors.As(err, &ie) || ie.Stage != "boot" {
		t.Fatalf("err = %v, want an InfraError at boot", err)
	}
}

// With Explain, the measurer is asked for traces and the reports end with
// where the regressed scenario's time went: the fake's delay, under
// create_ipc_ns; without the tracer, one line says unsupported.
func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		explain  int
		noTracer bool
		want     []string
		wantNot  []string
	}{
		{name: "explained", explain: 3, want: []string{
			"own time grew most in ", "__x64_sys_unshare > create_ipc_ns > msleep", "+10.00ms per iteration (0ns -> 10.00ms)",
			"tracing off while timing: yes / yes",
		}},
		{name: "no tracer", explain: 3, noTracer: true, want: []string{
			"explain ipcns on base-", "unsupported: base-", "needs CONFIG_FUNCTION_GRAPH_TRACER",
		}},
		{name: "off", wantNot: []string{"explain", "where the kernel time went"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.meas.NoTracer = tc.noTracer
			f.opts.Base, f.opts.Head, f.opts.Explain = f.commits[4], f.commits[5], tc.explain
			r, err := ci.Run(context.Background(), f.opts)
			if err != nil {
				t.Fatal(err)
			}
			if f.meas.Trace != tc.explain {
				t.Errorf("measurer traces %d iterations, want %d", f.meas.Trace, tc.explain)
			}
			if !r.Regressed() {
				t.Fatalf("not regressed: %+v", r.Report.Rows)
			}
			if tc.explain > 0 && (len(r.Explained) != 1 || r.Explained[0].Scenario != scenario) {
				t.Fatalf("explained %+v, want ipcns", r.Explained)
			}
			for _, p := range []string{r.Markdown, r.Text} {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range tc.want {
					if !strings.Contains(string(b), w) {
						t.Errorf("%s lacks %q:\n%s", p, w, b)
					}
				}
				for _, w := range tc.wantNot {
					if strings.Contains(string(b), w) {
						t.Errorf("%s has %q:\n%s", p, w, b)
					}
				}
			}
		})
	}
}

// A measurer that cannot trace is refused before anything is built.
func TestExplainNeedsATracer(t *testing.T) {
	f := newFixture(t)
	f.opts.Base, f.opts.Head, f.opts.Explain = f.commits[4], f.commits[5], 3
	f.opts.Measurer = struct{ tree.Measurer }{f.meas}
	_, err := ci.Run(context.Background(), f.opts)
	if !errors.Is(err, tree.ErrCannotTrace) || len(f.builder.Done) != 0 {
		t.Fatalf("err = %v (built %v), want ErrCannotTrace before building", err, f.builder.Done)
	}
}
