// Package bisecttest holds fakes for testing bisect and ci without kernels
// or QEMU: a git repository with a known slow commit, a Builder that makes
// "good" and "bad" images from it, and a Measurer that draws samples from
// a good and a bad distribution.
package bisecttest

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
	"strings"
	"sync"
	"testing"

	"coldstart/harness/bisect"
	"coldstart/harness/kernels"
	"coldstart/harness/matrix"
	"coldstart/harness/results"
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

// Build implements bisect.Builder.
func (b *Builder) Build(ctx context.Context, w *bisect.Workspace, commit string, log io.Writer) (*kernels.Image, error) {
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
// factor with sd BootSpread, then Iterations samples with sd 5%.
type Measurer struct {
	Scenario   string
	Good, Bad  float64 // medians, ns
	BootSpread float64
	Iterations int
	// FailBoot makes every boot of these commits' kernels fail.
	FailBoot map[string]bool
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

// Calls is how many times Measure was called.
func (m *Measurer) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Measure implements bisect.Measurer, booting the targets alternately.
func (m *Measurer) Measure(ctx context.Context, targets []matrix.Target, boots int, dir string) ([]*results.File, error) {
	m.mu.Lock()
	m.calls++
	call := m.calls
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
			Plan:      results.Plan{Scenarios: []string{m.Scenario}, Boots: boots, Iterations: its},
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
			f.Boots = append(f.Boots, results.Boot{Index: b, Status: results.StatusOK})
			center := m.Good
			if t.Image.Name == "bad" {
				center = m.Bad
			}
			h := fnv.New64a()
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
	if len(failed) > 0 {
		return files, fmt.Errorf("%w: %s", bisect.ErrBoot, strings.Join(failed, ", "))
	}
	return files, nil
}
