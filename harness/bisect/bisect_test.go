package bisect_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"coldstart/harness/bisect"
	"coldstart/harness/compare"
	"coldstart/harness/tree"
	"coldstart/harness/tree/treetest"
	"coldstart/stats"
)

const scenario = "ipcns"

type fixture struct {
	repo    string
	commits []string
	work    *tree.Workspace
	builder *treetest.Builder
	meas    *treetest.Measurer
	opts    bisect.Options
	head    string
}

// newFixture: 9 commits, commit 5 adds the delay; good = commit 0, bad =
// commit 8; good 10 ms, bad 20 ms, ±15% between boots.
func newFixture(t *testing.T) *fixture { return newFixtureSlow(t, 5) }

func newFixtureSlow(t *testing.T, slow int) *fixture {
	t.Helper()
	f := &fixture{}
	f.repo, f.commits = treetest.Repo(t, 9, slow)
	f.head = treetest.Git(t, f.repo, "rev-parse", "HEAD")
	f.work = openWork(t, f.repo, t.TempDir())
	f.builder = &treetest.Builder{}
	f.meas = &treetest.Measurer{Scenario: scenario, Good: 10e6, Bad: 20e6, BootSpread: 0.15}
	f.opts = bisect.Options{
		Work: f.work, Good: f.commits[0], Bad: f.commits[8], Scenario: scenario,
		Boots: 5, MaxBoots: 15, Compare: compare.DefaultOptions(),
		Builder: f.builder, Measurer: f.meas, Out: t.TempDir(),
	}
	return f
}

func openWork(t *testing.T, repo, cache string) *tree.Workspace {
	t.Helper()
	w, err := tree.OpenWorkspace(context.Background(), repo, cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// checkClean: the user's repository is as it was, and the private clone
// is not bisecting.
func (f *fixture) checkClean(t *testing.T) {
	t.Helper()
	if got := treetest.Git(t, f.repo, "rev-parse", "HEAD"); got != f.head {
		t.Errorf("user's HEAD moved: %s, want %s", got, f.head)
	}
	if st := treetest.Git(t, f.repo, "status", "--porcelain"); st != "" {
		t.Errorf("user's tree is not clean:\n%s", st)
	}
	if b := treetest.Git(t, f.repo, "symbolic-ref", "HEAD"); b != "refs/heads/main" {
		t.Errorf("user's branch changed: %s", b)
	}
	for _, dir := range []string{f.repo, f.work.Dir} {
		if refs := treetest.Git(t, dir, "for-each-ref", "refs/bisect"); refs != "" {
			t.Errorf("%s: refs/bisect left behind:\n%s", dir, refs)
		}
		if _, err := os.Stat(filepath.Join(dir, ".git", "BISECT_LOG")); err == nil {
			t.Errorf("%s: still bisecting (BISECT_LOG)", dir)
		}
	}
}

func TestBisectNamesTheSlowCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st, err := bisect.Run(context.Background(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.FirstBad != f.commits[5] || st.Subject != "commit 5" {
		t.Errorf("first bad = %s %q, want %s \"commit 5\"", st.FirstBad, st.Subject, f.commits[5])
	}
	for _, s := range st.Steps {
		want := bisect.Good
		if slices.Index(f.commits, s.Commit) >= 5 {
			want = bisect.Bad
		}
		if s.Class != want || s.Exit != want.ExitCode() {
			t.Errorf("step %d (%s): %s exit %d, want %s: %s", s.N, s.Subject, s.Class, s.Exit, want, s.Reason)
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "build.log")); err != nil {
			t.Errorf("step %d keeps no build log: %v", s.N, err)
		}
	}
	f.checkClean(t)
	var b strings.Builder
	if err := bisect.WriteTable(&b, st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{"first bad commit: " + f.commits[5] + " commit 5", "vs good", "regressed"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(f.opts.Out, "git-bisect.log")); err != nil {
		t.Errorf("no git-bisect.log kept: %v", err)
	}
	// The ends were booted alternately.
	for i, u := range f.meas.Order[:10] {
		want := "good-"
		if i%2 == 1 {
			want = "bad-"
		}
		if !strings.HasPrefix(u, want) {
			t.Errorf("boot %d of the ends was %s, want %s...: %v", i, u, want, f.meas.Order[:10])
			break
		}
	}
}

// git bisect tests commit 4 first (the midpoint of 1..8); with the delay in
// commit 6, skipping 4 still leaves one answer.
func TestBuildFailureIsSkippedAndBisectConverges(t *testing.T) {
	t.Parallel()
	f := newFixtureSlow(t, 6)
	f.builder.Fail = map[string]bool{"commit 4": true}
	st, err := bisect.Run(context.Background(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	skipped := false
	for _, s := range st.Steps {
		if s.Commit == f.commits[4] {
			skipped = s.Class == bisect.Skip && s.Exit == 125 && strings.Contains(s.Reason, "build failed")
			if !strings.Contains(s.Reason, "Error 2") {
				t.Errorf("skip reason lacks the log tail: %q", s.Reason)
			}
		}
	}
	if !skipped {
		t.Errorf("commit 4 was not tested and skipped (125): %+v", st.Steps)
	}
	if st.FirstBad != f.commits[6] {
		t.Errorf("first bad = %s, want commit 6 %s", st.FirstBad, f.commits[6])
	}
	f.checkClean(t)
}

func TestBootFailureIsSkipped(t *testing.T) {
	t.Parallel()
	f := newFixtureSlow(t, 6)
	f.meas.FailBoot = map[string]bool{f.commits[4]: true}
	st, err := bisect.Run(context.Background(), f.opts)
	if err != nil || st.FirstBad != f.commits[6] {
		t.Fatalf("first bad %s, err %v", st.FirstBad, err)
	}
	for _, s := range st.Steps {
		if s.Commit == f.commits[4] && (s.Class != bisect.Skip || !strings.Contains(s.Reason, "boot failed")) {
			t.Errorf("commit 4 (boots fail): %s %q, want skip after a boot failure", s.Class, s.Reason)
		}
	}
}

func TestOnlySkippedLeftIsInconclusive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.builder.Fail = map[string]bool{"commit 4": true} // the parent of the slow commit
	st, err := bisect.Run(context.Background(), f.opts)
	if !errors.Is(err, bisect.ErrInconclusive) || !slices.Contains(st.Candidates, f.commits[5]) || !slices.Contains(st.Candidates, f.commits[4]) {
		t.Fatalf("err %v, candidates %v: want inconclusive between commits 4 and 5", err, st.Candidates)
	}
	f.checkClean(t)
}

func TestUnknownVerdictAddsBoots(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Three boots a side can never reach p ≤ 0.01: every verdict starts
	// unknown and needs more boots.
	f.opts.Boots, f.opts.MaxBoots = 3, 12
	st, err := bisect.Run(context.Background(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.FirstBad != f.commits[5] {
		t.Errorf("first bad = %s, want %s", st.FirstBad, f.commits[5])
	}
	if n := len(st.Good.Groups); n < 6 {
		t.Errorf("good end has %d boots, want ≥ 6 (unknown at 3 must add boots)", n)
	}
	for _, s := range st.Steps {
		if s.Rounds < 2 || s.Boots < 6 {
			t.Errorf("step %d: %d rounds, %d boots; want ≥ 2 rounds, ≥ 6 boots", s.N, s.Rounds, s.Boots)
		}
		if s.Boots > 12 {
			t.Errorf("step %d: %d boots, over --max-boots 12", s.N, s.Boots)
		}
	}
}

// On the virtual clock a boot is a copy of the one before, and compare
// takes one boot's iterations as the replicates. The e2e run that found
// this looped 245 rounds: the loop counted replicates (groups) against
// --max-boots, not boots. 3 boots a step must be enough, and never more.
func TestVirtualClockBisectsWithinMaxBoots(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.meas.Virtual = true
	f.opts.Boots, f.opts.MaxBoots = 3, 3
	st, err := bisect.Run(context.Background(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.FirstBad != f.commits[5] {
		t.Errorf("first bad = %s, want %s", st.FirstBad, f.commits[5])
	}
	if n := len(st.Good.Groups); n != 10 {
		t.Errorf("good end has %d replicates, want one boot's 10 iterations", n)
	}
	for _, s := range st.Steps {
		if s.Boots != 3 || s.Rounds != 1 {
			t.Errorf("step %d: %d boots in %d rounds, want 3 in 1", s.N, s.Boots, s.Rounds)
		}
	}
	// ends: 3+3 boots; steps: 3 each.
	if want := 2*3 + 3*len(st.Steps); len(f.meas.Order) != want {
		t.Errorf("%d boots in all, want %d", len(f.meas.Order), want)
	}
}

// When compare leaves every boot out (a coarse clock), the ends give no
// samples: that is an error naming the end, after one round, not a loop.
func TestEndsWithNoUsableBootsAreAnError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.meas.Coarse = true
	_, err := bisect.Run(context.Background(), f.opts)
	var ee *bisect.EndError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want an EndError", err)
	}
	if !strings.Contains(err.Error(), "no usable samples") {
		t.Errorf("error does not say why: %v", err)
	}
	if c := f.meas.Calls(); c != 1 {
		t.Errorf("Measure called %d times, want 1", c)
	}
}

func TestRefusesWhenEndsDoNotDiffer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.meas.Bad = f.meas.Good
	f.opts.MaxBoots = 10
	st, err := bisect.Run(context.Background(), f.opts)
	var re *bisect.RefusalError
	if !errors.As(err, &re) || !errors.Is(err, bisect.ErrNotDifferent) {
		t.Fatalf("err = %v, want a *RefusalError", err)
	}
	for _, want := range []string{"good " + f.commits[0][:12] + " median", "boots", "ratio ×", "p = "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
	if len(st.Steps) != 0 || f.meas.Calls() != 2 {
		t.Errorf("%d steps, %d measurements: want none beyond the ends (2 rounds of 5 up to 10)", len(st.Steps), f.meas.Calls())
	}
	f.checkClean(t)
}

func TestResumeAfterInterruption(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Call 1 measures the ends, 2 the first step; Ctrl-C during the third.
	f.meas.Before = func(call int) error {
		if call == 3 {
			cancel()
			return ctx.Err()
		}
		return nil
	}
	st, err := bisect.Run(ctx, f.opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(st.Steps) != 1 {
		t.Fatalf("%d steps recorded before the interruption, want 1", len(st.Steps))
	}
	first := st.Steps[0]
	f.checkClean(t) // reset on interruption too

	// Resume: same options, fresh fakes, in another process's workspace
	// handle (the first one is closed).
	f.work.Close()
	w2 := openWork(t, f.repo, filepath.Dir(filepath.Dir(f.work.Dir)))
	b2 := &treetest.Builder{}
	m2 := &treetest.Measurer{Scenario: scenario, Good: 10e6, Bad: 20e6, BootSpread: 0.15}
	o := f.opts
	o.Work, o.Builder, o.Measurer = w2, b2, m2
	st2, err := bisect.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if st2.FirstBad != f.commits[5] {
		t.Errorf("resumed bisect: first bad %s, want %s", st2.FirstBad, f.commits[5])
	}
	if st2.Steps[0].Commit != first.Commit || st2.Steps[0].Class != first.Class {
		t.Errorf("resumed step 1 = %+v, want the recorded %+v", st2.Steps[0], first)
	}
	for _, s := range b2.Done {
		if s == "commit 0" || s == "commit 8" || s == first.Subject {
			t.Errorf("resume rebuilt %q, which was measured before the interruption (built: %v)", s, b2.Done)
		}
	}
	if m2.Calls() != len(st2.Steps)-1 {
		t.Errorf("resume measured %d times for %d new steps", m2.Calls(), len(st2.Steps)-1)
	}
	f.checkClean(t)

	// Running it once more prints the stored answer without measuring.
	m3 := &treetest.Measurer{Scenario: scenario}
	o.Measurer = m3
	st3, err := bisect.Run(context.Background(), o)
	if err != nil || st3.FirstBad != f.commits[5] || m3.Calls() != 0 {
		t.Errorf("finished bisect rerun: first bad %s, err %v, %d measurements", st3.FirstBad, err, m3.Calls())
	}
}

func TestEndThatDoesNotBuildIsAnError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.builder.Fail = map[string]bool{"commit 8": true}
	_, err := bisect.Run(context.Background(), f.opts)
	var ee *bisect.EndError
	if !errors.As(err, &ee) || ee.Which != "bad" || !errors.Is(err, treetest.ErrBuild) {
		t.Fatalf("err = %v, want an *EndError for bad wrapping the build error", err)
	}
	f.checkClean(t)
}

func TestClassify(t *testing.T) {
	o := compare.DefaultOptions()
	boots := func(med float64, n int) [][]float64 {
		var g [][]float64
		for i := range n {
			f := 1 + 0.02*float64(i%5-2)
			g = append(g, []float64{med * f, med * f * 1.01, med * f * 0.99})
		}
		return g
	}
	good, bad := boots(10, 8), boots(20, 8)
	for _, tc := range []struct {
		name  string
		s     [][]float64
		force bool
		want  bisect.Class
	}{
		{"like good", boots(10.1, 8), false, bisect.Good},
		{"like bad", boots(19.8, 8), false, bisect.Bad},
		{"too few boots", boots(10, 2), false, bisect.Unknown},
		{"halfway", boots(14.1, 8), false, bisect.Unknown},
		{"halfway at the limit, nearer good", boots(13.5, 8), true, bisect.Good},
		{"few boots at the limit, nearer bad", boots(18, 2), true, bisect.Bad},
	} {
		c, vg, vb, reason := bisect.Classify(good, bad, tc.s, scenario, o, tc.force)
		if c != tc.want {
			t.Errorf("%s: %s (%s; vs good %s p=%.3g, vs bad %s p=%.3g), want %s", tc.name, c, reason, vg.Verdict, vg.P, vb.Verdict, vb.P, tc.want)
		}
	}
}

// With Explain, every boot traces and Explain says where the time went
// between the last good and the first bad commit (the fake's delay under
// create_ipc_ns), reading the result files of all their rounds; without
// it, or on a kernel without the tracer, one line says why not.
func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		slow      int
		explain   int
		noTracer  bool
		boots     int // 3: every commit takes several rounds
		lastGood  int
		firstBad  int
		why       string
		unsupport bool
	}{
		{name: "explained", slow: 5, explain: 3, lastGood: 4, firstBad: 5},
		{name: "several rounds", slow: 5, explain: 2, boots: 3, lastGood: 4, firstBad: 5},
		{name: "the bad end", slow: 8, explain: 3, lastGood: 7, firstBad: 8},
		{name: "the good end", slow: 1, explain: 3, lastGood: 0, firstBad: 1},
		{name: "no traces", slow: 5, lastGood: 4, firstBad: 5, why: "rerun the bisect with --explain"},
		{name: "no tracer", slow: 5, explain: 3, noTracer: true, lastGood: 4, firstBad: 5, why: "unsupported: good-", unsupport: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixtureSlow(t, tc.slow)
			f.opts.Explain = tc.explain
			f.meas.NoTracer = tc.noTracer
			if tc.boots > 0 {
				f.opts.Boots = tc.boots
			}
			st, err := bisect.Run(context.Background(), f.opts)
			if err != nil {
				t.Fatal(err)
			}
			if f.meas.Trace != tc.explain {
				t.Errorf("measurer traces %d iterations, want %d", f.meas.Trace, tc.explain)
			}
			e := bisect.Explain(st, f.opts.Out)
			wantKernel := "last good " + f.commits[tc.lastGood][:12] + " → first bad " + f.commits[tc.firstBad][:12]
			if e.Kernel != wantKernel || e.Verdict != stats.Regressed || !strings.HasPrefix(e.Change, "+") {
				t.Errorf("explanation of %q (%s %s), want %q regressed", e.Kernel, e.Verdict, e.Change, wantKernel)
			}
			var b strings.Builder
			if err := compare.WriteExplanationsText(&b, []compare.Explanation{e}, 0); err != nil {
				t.Fatal(err)
			}
			if tc.why != "" {
				if e.Report != nil || !strings.Contains(e.Why, tc.why) || e.Unsupported != tc.unsupport {
					t.Errorf("want no report and why %q (unsupported %v), got %+v", tc.why, tc.unsupport, e)
				}
				return
			}
			if e.Report == nil {
				t.Fatalf("no report: %s", e.Why)
			}
			t.Log("\n" + b.String())
			c := e.Report.Culprit
			if c == nil || c.Path != treetest.DelayPath || c.SelfGrowth != 10e6 {
				t.Errorf("culprit %+v, want %s +10 ms", c, treetest.DelayPath)
			}
			// Every boot of both commits, over all rounds, was traced.
			if e.Report.Base.Boots != len(boots(st, f.commits[tc.lastGood])) || e.Report.New.Boots != len(boots(st, f.commits[tc.firstBad])) {
				t.Errorf("traced boots %d/%d, want every boot's", e.Report.Base.Boots, e.Report.New.Boots)
			}
			if !strings.Contains(b.String(), "own time grew most in __x64_sys_unshare > create_ipc_ns > msleep: +10.00ms") {
				t.Errorf("text lacks the culprit:\n%s", b.String())
			}
		})
	}

	// An inconclusive bisect has nothing to explain.
	e := bisect.Explain(&bisect.State{Scenario: scenario, Good: bisect.End{Commit: "a"}, Bad: bisect.End{Commit: "b"}}, t.TempDir())
	if e.Report != nil || !strings.Contains(e.Why, "no first bad commit") {
		t.Errorf("inconclusive: %+v", e)
	}
}

// boots are a commit's per-boot sample groups, from an end or a step.
func boots(st *bisect.State, commit string) [][]float64 {
	switch commit {
	case st.Good.Commit:
		return st.Good.Groups
	case st.Bad.Commit:
		return st.Bad.Groups
	}
	for _, s := range st.Steps {
		if s.Commit == commit {
			return s.Groups
		}
	}
	return nil
}
