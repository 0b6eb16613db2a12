package bisect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"coldstart/harness/compare"
	"coldstart/harness/results"
	"coldstart/stats"
)

// explainHint is what a bisect without traces should do.
const explainHint = "rerun the bisect with --explain and a new --out (commits already measured are not measured again, so their files keep no traces)"

// Explain says where the bisected scenario's time went between the last
// commit found good (the good end when no step was) and the first bad
// commit, from the result files their measurements left under out (every
// round's, merged). When it cannot, the Explanation's Why says so in one
// line: an inconclusive bisect, files without traces (bisect without
// Options.Explain), or a kernel without the tracer (unsupported).
func Explain(st *State, out string) compare.Explanation {
	e := compare.Explanation{Scenario: st.Scenario, Verdict: stats.Regressed}
	if st.FirstBad == "" {
		e.Kernel = fmt.Sprintf("good %.12s → bad %.12s", st.Good.Commit, st.Bad.Commit)
		e.Why = "the bisect named no first bad commit, so there is no pair of commits to explain"
		return e
	}
	good := measured{role: "good", commit: st.Good.Commit, median: st.Good.Median, pattern: filepath.Join(out, "ends", "round-*", "good-"+short(st.Good.Commit)+".json")}
	for _, s := range st.Steps {
		if s.Class == Good {
			good = measured{role: "good", commit: s.Commit, median: s.Median, pattern: filepath.Join(s.Dir, "round-*", "step-"+short(s.Commit)+".json")}
		}
	}
	bad := measured{role: "bad", commit: st.Bad.Commit, median: st.Bad.Median, pattern: filepath.Join(out, "ends", "round-*", "bad-"+short(st.Bad.Commit)+".json")}
	for _, s := range st.Steps {
		if s.Commit == st.FirstBad {
			bad = measured{role: "bad", commit: s.Commit, median: s.Median, pattern: filepath.Join(s.Dir, "round-*", "step-"+short(s.Commit)+".json")}
		}
	}
	e.Kernel = fmt.Sprintf("last good %.12s → first bad %.12s", good.commit, bad.commit)
	if good.median > 0 && bad.median > 0 {
		ratio := bad.median / good.median
		e.Change = fmt.Sprintf("%+.1f%%", (ratio-1)*100)
		if ratio < 1 {
			e.Verdict = stats.Improved
		}
	}
	var files [2]*results.File
	for i, m := range []measured{good, bad} {
		f, err := m.load()
		if err != nil {
			e.Why = err.Error()
			return e
		}
		files[i] = f
	}
	e.Fill(files[0], files[1], explainHint)
	return e
}

// measured is a commit's measurement: its result files, one per round.
type measured struct {
	role, commit string
	median       float64
	pattern      string
}

func short(commit string) string { return commit[:min(12, len(commit))] }

// load merges the rounds' result files into one, its kernel named
// role-<commit>.
func (m measured) load() (*results.File, error) {
	paths, _ := filepath.Glob(m.pattern)
	if len(paths) == 0 {
		return nil, fmt.Errorf("no result files of the %s commit %.12s (%s): %w", m.role, m.commit, m.pattern, os.ErrNotExist)
	}
	sort.Slice(paths, func(i, j int) bool { return roundOf(paths[i]) < roundOf(paths[j]) })
	f, err := mergeRounds(paths)
	if err != nil {
		return nil, err
	}
	f.Kernel.Name = m.role + "-" + short(m.commit)
	return f, nil
}

// roundOf is N of .../round-N/...: rounds sort by number, not by name.
func roundOf(path string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(filepath.Dir(path)), "round-"))
	return n
}

// mergeRounds joins result files of one kernel from several rounds of
// boots: the boots of each round follow the previous rounds', renumbered,
// with their samples and traces.
func mergeRounds(paths []string) (*results.File, error) {
	var out *results.File
	for _, p := range paths {
		f, err := results.Read(p)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = f
			continue
		}
		off := 0
		for _, b := range out.Boots {
			off = max(off, b.Index+1)
		}
		for _, b := range f.Boots {
			b.Index += off
			out.Boots = append(out.Boots, b)
		}
		for name, sc := range f.Scenarios {
			have := out.Scenarios[name]
			if have == nil {
				if out.Scenarios == nil {
					out.Scenarios = map[string]*results.Scenario{}
				}
				have = &results.Scenario{Status: sc.Status, Reason: sc.Reason, Option: sc.Option}
				out.Scenarios[name] = have
			}
			for _, s := range sc.Samples {
				s.Boot += off
				have.Samples = append(have.Samples, s)
			}
		}
	}
	if out == nil {
		return nil, errors.New("no result files to merge")
	}
	return out, nil
}
