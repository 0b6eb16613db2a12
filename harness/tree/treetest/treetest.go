// Package treetest holds fakes for testing bisect and ci without kernels
// or QEMU: a git repository with a known slow commit, a Builder that makes
// "good" and "bad" images from it, and a Measurer that draws samples from
// a good and a bad distribution.
package treetest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"coldstart/event"
	"coldstart/harness/kernels"
	"coldstart/harness/matrix"
	"coldstart/harness/results"
	"coldstart/harness/tree"
	"coldstart/plan"
)

// DelayFile is the file whose presence makes a commit's kernel slow.
const DelayFile = "ipc/delay.c"

// Repo makes a git repository in a temporary directory with n commits,
// "commit 0" to "commit n-1"; commit slow (if ≥ 0) adds DelayFile. It
// returns the repository and the commit hashes in order.
func Repo(t testing.TB, n, slow int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	Git(t, dir, "init", "--quiet", "--initial-branch=main")
	var commits []string
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%d.c", i)), []byte(fmt.Sprintf("int f%d;\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if i == slow {
			if err := os.MkdirAll(filepath.Join(dir, "ipc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, DelayFile), []byte("msleep(20);\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		Git(t, dir, "add", "-A")
		Git(t, dir, "commit", "--quiet", "-m", fmt.Sprintf("commit %d", i))
		commits = append(commits, Git(t, dir, "rev-parse", "HEAD"))
	}
	return dir, commits
}

// Git runs git in dir with a fixed identity and dates.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@t", "GIT_AUTHOR_DATE=2025-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2025-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Builder builds "good" or "bad" images: bad when the commit has
// DelayFile. Builds of commits whose subject is in Fail fail.
type Builder struct {
	Fail map[string]bool // subjects
	mu   sync.Mutex
	Done []string // subjects built, in order
}

// ErrBuild is what a failing fake build returns.
var ErrBuild = errors.New("make bzImage: *** [Makefile:1234: vmlinux] Error 2")

// Build implements tree.Builder.
func (b *Builder) Build(ctx context.Context, w *tree.Workspace, commit string, log io.Writer) (*kernels.Image, error) {
	subject := w.Subject(ctx, commit)
	b.mu.Lock()
	b.Done = append(b.Done, subject)
	b.mu.Unlock()
	if b.Fail[subject] {
		fmt.Fprintf(log, "building %s\nipc/namespace.c:42: error: expected ';'\n", subject)
		return nil, ErrBuild
	}
	kind := "good"
	if _, err := w.Git(ctx, "cat-file", "-e", commit+":"+DelayFile); err == nil {
		kind = "bad"
	}
	fmt.Fprintf(log, "built %s (%s)\n", subject, kind)
	return &kernels.Image{Name: kind, Release: "6.1.0-fake", BzImage: "/nonexistent/" + commit, SHA256: kind + "-" + commit}, nil
}

// Measurer makes result files with samples of Scenario drawn per boot
// from a log-normal around Good or Bad (by the image's kind): a per-boot
// factor with sd BootSpread, then Iterations samples with sd 5%. It writes
// them into the directory it is given, as the real one does.
//
// With Trace above 0 (see Traced) every boot also carries a kernel trace
// of Scenario (TracePaths): a bad kernel spends Bad-Good more per
// iteration in DelayPath.
type Measurer struct {
	Scenario   string
	Good, Bad  float64 // medians, ns
	BootSpread float64
	Iterations int
	Trace      int
	// NoTracer makes traces say the kernel lacks the tracer.
	NoTracer bool
	// FailBoot makes every boot of these commits' kernels fail.
	FailBoot map[string]bool
	// Coarse marks every boot as run on a coarse (tick) clock, so that
	// compare leaves each one out.
	Coarse bool
	// Virtual records the virtual clock and makes every boot of one image
	// a copy of its first, as -icount does.
	Virtual bool
	// Before, if set, is called before each Measure with its call number
	// (from 1); an error from it is returned (to simulate Ctrl-C, cancel
	// the context there and return its error).
	Before func(call int) error

	mu    sync.Mutex
	calls int
	// Order is every boot as "<kernel name>/<boot>", in boot order.
	Order []string
	// Boots counts boots per image SHA256.
	Boots map[string]int
}

// DelayPath is the call path a bad kernel's delay sits on.
const DelayPath = "__x64_sys_unshare;create_ipc_ns;msleep"

// TracePaths are the call paths of a traced iteration and their ns, with
// delay ns in DelayPath.
func TracePaths(delay int64) map[string]int64 {
	p := map[string]int64{
		"__x64_sys_unshare":                          2e6 + delay,
		"__x64_sys_unshare;create_ipc_ns":            1.5e6 + delay,
		"__x64_sys_unshare;create_ipc_ns;mq_init_ns": 1e6,
		"__x64_sys_exit_group":                       1e6,
		"__x64_sys_exit_group;do_exit;put_ipc_ns":    0.5e6,
		"__x64_sys_wait4":                            0.2e6,
	}
	if delay > 0 {
		p[DelayPath] = delay
	}
	return p
}

// Traced implements tree.Tracer. Unlike the real one it changes m
// itself, so that tests see what was asked.
func (m *Measurer) Traced(n int) tree.Measurer {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Trace = n
	return m
}

func (m *Measurer) trace(n int, bad bool) *results.Trace {
	if m.NoTracer {
		return &results.Trace{Scenario: m.Scenario, Unsupported: "needs CONFIG_FUNCTION_GRAPH_TRACER (no function_graph in available_tracers)"}
	}
	tr := &results.Trace{Scenario: m.Scenario, Iterations: n, MaxDepth: 8,
		Timed: []string{"current_tracer=nop tracing_on=0", "current_tracer=nop tracing_on=0"}}
	delay := int64(0)
	if bad {
		delay = int64(m.Bad - m.Good)
	}
	for p, ns := range TracePaths(delay) {
		it := make([]int64, n)
		for i := range it {
			it[i] = ns
		}
		tr.Paths = append(tr.Paths, event.TracePath{Path: p, Calls: int64(n), NS: ns * int64(n), IterNS: it})
	}
	sort.Slice(tr.Paths, func(i, j int) bool { return tr.Paths[i].Path < tr.Paths[j].Path })
	return tr
}

func (m *Measurer) clock() string {
	if m.Virtual {
		return "virtual"
	}
	return ""
}

// Calls is how many times Measure was called.
func (m *Measurer) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Measure implements tree.Measurer, booting the targets alternately.
func (m *Measurer) Measure(ctx context.Context, targets []matrix.Target, boots int, dir string) ([]*results.File, error) {
	m.mu.Lock()
	m.calls++
	call, traced := m.calls, m.Trace
	if m.Boots == nil {
		m.Boots = map[string]int{}
	}
	m.mu.Unlock()
	if m.Before != nil {
		if err := m.Before(call); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	its := m.Iterations
	if its == 0 {
		its = 10
	}
	files := make([]*results.File, len(targets))
	for i, t := range targets {
		files[i] = &results.File{
			Schema:    results.Schema,
			Kernel:    results.Kernel{Name: t.Kernel.Name, SHA256: t.Image.SHA256, Release: t.Image.Release},
			Plan:      results.Plan{Plan: plan.Plan{Scenarios: []string{m.Scenario}, Boots: boots, Iterations: its}, Clock: m.clock()},
			Scenarios: map[string]*results.Scenario{m.Scenario: {Status: results.StatusOK}},
			Complete:  true,
		}
	}
	var failed []string
	for b := range boots {
		for i, t := range targets {
			m.mu.Lock()
			m.Order = append(m.Order, fmt.Sprintf("%s/%d", t.Kernel.Name, b))
			m.Boots[t.Image.SHA256]++
			n := m.Boots[t.Image.SHA256]
			m.mu.Unlock()
			f := files[i]
			if _, commit, _ := strings.Cut(t.Image.SHA256, "-"); m.FailBoot[commit] {
				f.Boots = append(f.Boots, results.Boot{Index: b, Status: results.StatusFailed, Error: "no hello from the agent"})
				f.Complete = false
				failed = append(failed, t.Kernel.Name)
				continue
			}
			boot := results.Boot{Index: b, Status: results.StatusOK, ClockCoarse: m.Coarse}
			if traced > 0 {
				boot.Traces = map[string]*results.Trace{m.Scenario: m.trace(traced, t.Image.Name == "bad")}
			}
			f.Boots = append(f.Boots, boot)
			center := m.Good
			if t.Image.Name == "bad" {
				center = m.Bad
			}
			h := fnv.New64a()
			if m.Virtual {
				n = 1
			}
			fmt.Fprintf(h, "%s/%d", t.Image.SHA256, n)
			rng := rand.New(rand.NewPCG(h.Sum64(), 7))
			bootMed := center * math.Exp(rng.NormFloat64()*m.BootSpread)
			sc := f.Scenarios[m.Scenario]
			for it := range its {
				v := bootMed * math.Exp(rng.NormFloat64()*0.05)
				sc.Samples = append(sc.Samples, results.Sample{Boot: b, Iter: it, WallNS: int64(v), OpNS: int64(v / 2)})
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return files, err
	}
	for _, f := range files {
		if err := results.Write(filepath.Join(dir, f.Kernel.Name+".json"), f); err != nil {
			return files, err
		}
	}
	if len(failed) > 0 {
		return files, fmt.Errorf("%w: %s", tree.ErrBoot, strings.Join(failed, ", "))
	}
	return files, nil
}
