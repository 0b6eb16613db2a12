// Package bisect finds the kernel commit that made a start-up scenario
// slower. It builds and boots the commits with package tree (a private
// clone of the user's repository, a kernel Builder and a Measurer), which
// it shares with harness/ci.
//
// # How a bisect runs
//
//	measure good and bad ──► differ? ── no ──► RefusalError (with the numbers)
//	      │ yes
//	      ▼
//	git bisect start BAD GOOD        (in the private clone)
//	      │
//	      ▼
//	┌─► step: build HEAD ── fails ──► git bisect skip   (exit 125)
//	│         boot B times, Classify against good and bad
//	│           unknown and < max boots ──► B more boots
//	│         git bisect good|bad    (exit 0|1)
//	└── until "is the first bad commit" (or only skipped commits are left)
//	      │
//	      ▼
//	git bisect reset                 (also on error and interruption)
//
// The loop runs in this process and calls git bisect good|bad|skip itself,
// with the semantics of git bisect run (0 good, 1 bad, 125 skip); it needs
// no re-exec and lets tests give fakes. Every measured step is written to
// the state file (<out>/bisect.json, atomically) before git hears of it, so
// an interrupted bisect resumes: the ends and the steps already measured
// are replayed into a new git bisect, and only the rest is built and booted.
// Each step keeps its build log and its boots' console logs and result
// files under <out>/step-NN-<commit>/.
//
// With Options.Explain every boot also traces the scenario in the kernel
// after its timed iterations, and Explain reads the last good and the
// first bad commit's result files back to say where the time went.
//
// Environment: none directly (see harness/kernels and harness/qemu).
package bisect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"coldstart/harness/compare"
	"coldstart/harness/matrix"
	"coldstart/harness/results"
	"coldstart/harness/tree"
	"coldstart/internal/atomicfile"
	"coldstart/internal/duration"
	"coldstart/internal/jsonfile"
	"coldstart/stats"
)

// Options configure a bisect.
type Options struct {
	Work      *tree.Workspace
	Good, Bad string // refs of the user's repository
	Scenario  string
	// Boots is how many boots a measurement starts with (per end, per
	// step); MaxBoots caps what a commit gets when its verdict stays
	// unknown. Both ends and every step reach significance only from
	// stats.MinBoots(Alpha) boots on (5 at α = 0.01).
	Boots, MaxBoots int
	Compare         compare.Options
	Builder         tree.Builder
	Measurer        tree.Measurer
	// Explain, when above 0, has every boot trace that many iterations
	// of the scenario after the timed ones, so that Explain can say where
	// the time went between the last good and the first bad commit. The
	// Measurer must be a tree.Tracer.
	Explain  int
	Out      string // state, logs and report
	Progress io.Writer
}

// Step is one commit measured during the bisect.
type Step struct {
	N       int         `json:"n"`
	Commit  string      `json:"commit"`
	Subject string      `json:"subject"`
	Class   Class       `json:"class"`
	Exit    int         `json:"exit"` // as git bisect run would see it
	Boots   int         `json:"boots"`
	Rounds  int         `json:"rounds"`
	Median  float64     `json:"median_ns"`
	VsGood  *Evidence   `json:"vs_good,omitempty"`
	VsBad   *Evidence   `json:"vs_bad,omitempty"`
	Reason  string      `json:"reason"`
	Dir     string      `json:"dir"`
	Groups  [][]float64 `json:"groups,omitempty"` // per-boot samples
}

// End is the measurement of the good or the bad commit.
type End struct {
	Commit  string      `json:"commit"`
	Subject string      `json:"subject"`
	Groups  [][]float64 `json:"groups"`
	Median  float64     `json:"median_ns"`
}

// State is the bisect's state file, and its result.
type State struct {
	Schema   int      `json:"schema"`
	Repo     string   `json:"repo"`
	Scenario string   `json:"scenario"`
	Metric   string   `json:"metric"`
	Good     End      `json:"good"`
	Bad      End      `json:"bad"`
	Ends     Evidence `json:"ends"` // bad against good
	Measured bool     `json:"measured"`
	// CalibrationNS is the guest speed every boot's samples are scaled
	// to with --calibrate on (the good end's first median calibration); 0
	// when the samples are as measured.
	CalibrationNS float64 `json:"calibration_ns,omitempty"`
	Steps         []Step  `json:"steps"`
	// FirstBad is set when the bisect named one commit; Candidates when
	// skipped commits left several.
	FirstBad   string   `json:"first_bad,omitempty"`
	Subject    string   `json:"first_bad_subject,omitempty"`
	Candidates []string `json:"candidates,omitempty"`
	Done       bool     `json:"done"`
}

const stateSchema = 1

// StateFile is the name of the state file in the output directory.
const StateFile = "bisect.json"

// ErrNotDifferent is wrapped by a *RefusalError.
var ErrNotDifferent = errors.New("good and bad do not differ significantly")

// ErrInconclusive: skipped commits left several candidates.
var ErrInconclusive = errors.New("bisect inconclusive: only skipped commits are left")

// RefusalError says why there is nothing to bisect, with the numbers.
type RefusalError struct {
	Scenario   string
	Good, Bad  End
	Evidence   Evidence
	GoodBoots  int
	BadBoots   int
	MaxReached bool
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("%v on %s: good %.12s median %s (%d boots), bad %.12s median %s (%d boots): ratio ×%.3f [%.3f, %.3f], p = %.3g, verdict %s%s; nothing to bisect (try more --max-boots, another scenario, or check that the refs are right)",
		ErrNotDifferent, e.Scenario, e.Good.Commit, duration.Format(e.Good.Median), e.GoodBoots, e.Bad.Commit, duration.Format(e.Bad.Median), e.BadBoots,
		e.Evidence.Ratio, e.Evidence.CI.Lo, e.Evidence.CI.Hi, e.Evidence.P, e.Evidence.Verdict, noteSuffix(e.Evidence.Note))
}

func (e *RefusalError) Unwrap() error { return ErrNotDifferent }

// EndError: the good or the bad commit could not be built or booted.
type EndError struct {
	Which, Commit string
	Err           error
}

func (e *EndError) Error() string {
	return fmt.Sprintf("the %s end %.12s could not be measured (a bisect needs both ends): %v", e.Which, e.Commit, e.Err)
}

func (e *EndError) Unwrap() error { return e.Err }

func noteSuffix(n string) string {
	if n == "" {
		return ""
	}
	return " (" + n + ")"
}

func (o *Options) check() error {
	switch {
	case o.Work == nil || o.Builder == nil || o.Measurer == nil:
		return errors.New("bisect: Work, Builder and Measurer are required")
	case o.Scenario == "":
		return errors.New("bisect: no scenario")
	case o.Boots < 1:
		return errors.New("bisect: boots must be at least 1")
	case o.Out == "":
		return errors.New("bisect: no output directory")
	}
	if o.MaxBoots < o.Boots {
		o.MaxBoots = o.Boots
	}
	if o.Compare.Metric == "" {
		o.Compare = compare.DefaultOptions()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Explain > 0 {
		m, err := tree.Traced(o.Measurer, o.Explain)
		if err != nil {
			return fmt.Errorf("bisect: explain: %w", err)
		}
		o.Measurer = m
	}
	return nil
}

// Run bisects and returns the final state. It returns a *RefusalError when
// the ends do not differ, ErrInconclusive (with the state) when skipped
// commits leave several candidates, and ctx's error when interrupted (the
// state file then allows a resume). git bisect is reset in every case.
func Run(ctx context.Context, o Options) (st *State, err error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	w := o.Work
	good, err := w.Resolve(ctx, o.Good)
	if err != nil {
		return nil, err
	}
	bad, err := w.Resolve(ctx, o.Bad)
	if err != nil {
		return nil, err
	}
	if err := w.IsAncestor(ctx, good, bad); err != nil {
		return nil, fmt.Errorf("good %.12s is not an ancestor of bad %.12s: git bisect needs good before bad", good, bad)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	statePath := filepath.Join(o.Out, StateFile)
	st, err = loadState(statePath)
	switch {
	case err == nil:
		if st.Good.Commit != good || st.Bad.Commit != bad || st.Scenario != o.Scenario || st.Metric != o.Compare.Metric {
			return nil, fmt.Errorf("%s holds another bisect (good %.12s, bad %.12s, %s %s): choose another --out or remove it", statePath, st.Good.Commit, st.Bad.Commit, st.Scenario, st.Metric)
		}
		if st.Done {
			return st, st.outcome()
		}
		fmt.Fprintf(o.Progress, "resuming the bisect in %s: %d step(s) already measured\n", o.Out, len(st.Steps))
	case errors.Is(err, os.ErrNotExist):
		st = &State{Schema: stateSchema, Repo: w.Repo, Scenario: o.Scenario, Metric: o.Compare.Metric,
			Good: End{Commit: good, Subject: w.Subject(ctx, good)}, Bad: End{Commit: bad, Subject: w.Subject(ctx, bad)}}
	default:
		return nil, err
	}
	save := func() error { return saveState(statePath, st) }

	if !st.Measured {
		if err := measureEnds(ctx, o, st); err != nil {
			return st, err
		}
		st.Measured = true
		if err := save(); err != nil {
			return st, err
		}
	}
	if !st.Ends.differs() {
		return st, &RefusalError{Scenario: o.Scenario, Good: st.Good, Bad: st.Bad, Evidence: st.Ends,
			GoodBoots: len(st.Good.Groups), BadBoots: len(st.Bad.Groups)}
	}

	// git bisect, always reset: on success, error and interruption.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if l, lerr := w.Git(rctx, "bisect", "log"); lerr == nil {
			_ = atomicfile.WriteFile(filepath.Join(o.Out, "git-bisect.log"), []byte(l+"\n"), 0o644)
		}
		if _, rerr := w.Git(rctx, "bisect", "reset"); rerr != nil && err == nil {
			err = fmt.Errorf("git bisect reset: %w", rerr)
		}
	}()
	out, err := w.Git(ctx, "bisect", "start", bad, good)
	if err != nil {
		return st, err
	}
	for _, s := range st.Steps { // replay a resumed bisect
		out, err = w.Git(ctx, "bisect", string(s.Class), s.Commit)
		if done, derr := st.finished(out, err); done || derr != nil {
			return st, finish(st, save, derr)
		}
	}
	if done, derr := st.finished(out, nil); done || derr != nil {
		return st, finish(st, save, derr)
	}
	for {
		commit, err := w.Git(ctx, "rev-parse", "HEAD")
		if err != nil {
			return st, err
		}
		step, err := measureStep(ctx, o, st, commit)
		if err != nil {
			return st, err
		}
		st.Steps = append(st.Steps, *step)
		if err := save(); err != nil {
			return st, err
		}
		fmt.Fprintf(o.Progress, "step %d: %.12s %s: %s (exit %d, %d boots, median %s): %s\n",
			step.N, commit, step.Subject, step.Class, step.Exit, step.Boots, duration.Format(step.Median), step.Reason)
		out, err = w.Git(ctx, "bisect", string(step.Class), commit)
		if done, derr := st.finished(out, err); done || derr != nil {
			return st, finish(st, save, derr)
		}
	}
}

func finish(st *State, save func() error, err error) error {
	if err != nil {
		return err
	}
	st.Done = true
	if err := save(); err != nil {
		return err
	}
	return st.outcome()
}

func (st *State) outcome() error {
	if st.FirstBad == "" {
		return fmt.Errorf("%w: the first bad commit is one of %s", ErrInconclusive, strings.Join(st.Candidates, ", "))
	}
	return nil
}

var (
	firstBadRE = regexp.MustCompile(`(?m)^([0-9a-f]{40}) is the first bad commit`)
	hashLineRE = regexp.MustCompile(`(?m)^([0-9a-f]{40})$`)
)

// finished reads git bisect's answer to start/good/bad/skip.
func (st *State) finished(out string, err error) (bool, error) {
	var ge *tree.GitError
	if errors.As(err, &ge) {
		out = ge.Stderr
	}
	if m := firstBadRE.FindStringSubmatch(out); m != nil {
		st.FirstBad = m[1]
		for _, s := range st.Steps {
			if s.Commit == m[1] {
				st.Subject = s.Subject
			}
		}
		if st.Subject == "" && m[1] == st.Bad.Commit {
			st.Subject = st.Bad.Subject
		}
		return true, nil
	}
	if strings.Contains(out, "only 'skip'ped commits left") {
		for _, m := range hashLineRE.FindAllStringSubmatch(out, -1) {
			st.Candidates = append(st.Candidates, m[1])
		}
		return true, nil
	}
	return false, err
}

// measureEnds builds and boots good and bad alternately, adding boots
// while their comparison is unknown, up to MaxBoots.
func measureEnds(ctx context.Context, o Options, st *State) error {
	dir := filepath.Join(o.Out, "ends")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var targets []matrix.Target
	for _, e := range []struct {
		which string
		end   *End
	}{{"good", &st.Good}, {"bad", &st.Bad}} {
		fmt.Fprintf(o.Progress, "%s: building %.12s %s\n", e.which, e.end.Commit, e.end.Subject)
		im, err := tree.BuildLogged(ctx, o.Builder, o.Work, e.end.Commit, filepath.Join(dir, e.which+".build.log"), o.Progress)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &EndError{Which: e.which, Commit: e.end.Commit, Err: err}
		}
		targets = append(targets, tree.Target(e.which, e.end.Commit, im))
	}
	st.Good.Groups, st.Bad.Groups = nil, nil
	// booted counts boots run a side, not groups kept: a boot may give no
	// group (left out for a coarse clock), or many (the virtual clock's
	// iterations), and neither may keep the loop going past MaxBoots.
	booted := 0
	for round := 1; ; round++ {
		n := min(o.Boots, o.MaxBoots-booted)
		if n <= 0 {
			return nil
		}
		booted += n
		fmt.Fprintf(o.Progress, "measuring good and bad alternately: %d boots each (round %d)\n", n, round)
		files, err := o.Measurer.Measure(ctx, targets, n, filepath.Join(dir, fmt.Sprintf("round-%d", round)))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &EndError{Which: "good or bad", Commit: st.Good.Commit[:12] + "/" + st.Bad.Commit[:12], Err: err}
		}
		for i, e := range []*End{&st.Good, &st.Bad} {
			if err := scenarioOK(files[i], o.Scenario); err != nil {
				return &EndError{Which: []string{"good", "bad"}[i], Commit: e.Commit, Err: err}
			}
			g := st.groups(files[i], o.Scenario, o.Compare)
			if len(g) == 0 {
				return &EndError{Which: []string{"good", "bad"}[i], Commit: e.Commit,
					Err: fmt.Errorf("%d boots gave no usable samples of %s (every boot left out; see its console logs in %s)", n, o.Scenario, filepath.Join(dir, fmt.Sprintf("round-%d", round)))}
			}
			e.Groups = append(e.Groups, g...)
			e.Median = stats.GroupMedian(e.Groups)
		}
		st.Ends = evidence(st.Good.Groups, st.Bad.Groups, o.Compare, o.Scenario)
		fmt.Fprintf(o.Progress, "good %s, bad %s (%d/%d boots): ratio ×%.3f [%.3f, %.3f], p = %.3g: %s\n",
			duration.Format(st.Good.Median), duration.Format(st.Bad.Median), len(st.Good.Groups), len(st.Bad.Groups),
			st.Ends.Ratio, st.Ends.CI.Lo, st.Ends.CI.Hi, st.Ends.P, st.Ends.Verdict)
		if st.Ends.Verdict != stats.Unknown || booted >= o.MaxBoots {
			return nil
		}
	}
}

// groups returns a file's samples of the scenario grouped by boot, each
// boot's divided by its guest speed relative to st.CalibrationNS (set by
// the first calibrated file), with --calibrate on (auto is as measured
// here: a step's units must not depend on its own data). Every file of one bisect
// comes from the same agent, so all are calibrated or none are (runs from
// before calibration: as measured).
func (st *State) groups(f *results.File, scenario string, o compare.Options) [][]float64 {
	if o.Calibrate != compare.CalibrateOn {
		g, _, _ := compare.Groups(f, scenario, o.Metric)
		return g
	}
	g, ref, ok := compare.CalibratedGroups(f, scenario, o.Metric, st.CalibrationNS)
	if ok && st.CalibrationNS == 0 {
		st.CalibrationNS = ref
	}
	return g
}

// measureStep builds, boots and classifies one commit.
func measureStep(ctx context.Context, o Options, st *State, commit string) (*Step, error) {
	n := len(st.Steps) + 1
	s := &Step{N: n, Commit: commit, Subject: o.Work.Subject(ctx, commit),
		Dir: filepath.Join(o.Out, fmt.Sprintf("step-%02d-%.12s", n, commit))}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	skip := func(reason string) (*Step, error) {
		s.Class, s.Exit, s.Reason = Skip, Skip.ExitCode(), reason
		_ = os.WriteFile(filepath.Join(s.Dir, "skip.txt"), []byte(reason+"\n"), 0o644)
		return s, nil
	}
	fmt.Fprintf(o.Progress, "step %d: building %.12s %s\n", n, commit, s.Subject)
	im, err := tree.BuildLogged(ctx, o.Builder, o.Work, commit, filepath.Join(s.Dir, "build.log"), o.Progress)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return skip("build failed: " + tree.Tail(err.Error(), 6))
	}
	t := tree.Target("step", commit, im)
	for round := 1; ; round++ {
		boots := min(o.Boots, o.MaxBoots-s.Boots)
		files, err := o.Measurer.Measure(ctx, []matrix.Target{t}, boots, filepath.Join(s.Dir, fmt.Sprintf("round-%d", round)))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return skip("boot failed: " + tree.Tail(err.Error(), 6))
		}
		if err := scenarioOK(files[0], o.Scenario); err != nil {
			return skip(err.Error())
		}
		g := st.groups(files[0], o.Scenario, o.Compare)
		s.Groups = append(s.Groups, g...)
		s.Rounds, s.Boots, s.Median = round, s.Boots+boots, stats.GroupMedian(s.Groups)
		force := s.Boots >= o.MaxBoots || len(g) == 0
		c, vg, vb, reason := Classify(st.Good.Groups, st.Bad.Groups, s.Groups, o.Scenario, o.Compare, force)
		s.VsGood, s.VsBad = &vg, &vb
		if c != Unknown {
			s.Class, s.Exit, s.Reason = c, c.ExitCode(), reason
			return s, nil
		}
		fmt.Fprintf(o.Progress, "step %d: %s after %d boots (vs good %s, vs bad %s): %d more\n", n, reason, s.Boots, vg.Verdict, vb.Verdict, min(o.Boots, o.MaxBoots-s.Boots))
	}
}

func scenarioOK(f *results.File, scenario string) error {
	sc := f.Scenarios[scenario]
	switch {
	case sc == nil:
		return fmt.Errorf("%s: scenario %s did not run", f.Kernel.Name, scenario)
	case sc.Status != results.StatusOK:
		return fmt.Errorf("%s: scenario %s %s: %s", f.Kernel.Name, scenario, sc.Status, sc.Reason)
	}
	return nil
}

func loadState(path string) (*State, error) {
	var st State
	if err := jsonfile.Read(path, &st, stateSchema, "bisect state"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: remove it to start over", err)
	}
	return &st, nil
}

// SchemaVersion implements jsonfile.Versioned.
func (st *State) SchemaVersion() int { return st.Schema }

func saveState(path string, st *State) error {
	return jsonfile.Write(path, finiteState(st), "bisect state")
}

// finiteState is a copy of st that JSON can encode: NaN and ±Inf (no
// usable boots) become 0.
func finiteState(st *State) *State {
	c := *st
	fix := func(e *Evidence) *Evidence {
		if e == nil {
			return nil
		}
		x := *e
		x.Ratio, x.P, x.CI.Lo, x.CI.Hi, x.CI.Level = finite(x.Ratio), finite(x.P), finite(x.CI.Lo), finite(x.CI.Hi), finite(x.CI.Level)
		return &x
	}
	c.Good.Median, c.Bad.Median = finite(c.Good.Median), finite(c.Bad.Median)
	c.Ends = *fix(&c.Ends)
	c.Steps = make([]Step, len(st.Steps))
	for i, s := range st.Steps {
		s.Median = finite(s.Median)
		s.VsGood, s.VsBad = fix(s.VsGood), fix(s.VsBad)
		c.Steps[i] = s
	}
	return &c
}

func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
