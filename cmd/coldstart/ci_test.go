package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/guestimage"
	"coldstart/harness/initramfs"
	"coldstart/harness/tree"
	"coldstart/harness/tree/treetest"
)

// fakeLab builds with treetest's fakes: commits holding the delay file
// are 2x slower.
func fakeLab(b *treetest.Builder, m *treetest.Measurer) lab {
	return lab{
		builder: func(*lab, *tree.Workspace, vmFlags) tree.Builder { return b },
		measurer: func(context.Context, *lab, []string, vmFlags) (tree.Measurer, error) {
			return m, nil
		},
	}
}

// The initramfs of ci and bisect serves the scenarios they measure: it
// once got the runtimes only for container runs, and seccomp-compile ran
// without csrun.
func TestLabImageServesItsScenarios(t *testing.T) {
	for _, names := range [][]string{{"seccomp-compile"}, {"netns", "ipcns"}, {"oci-run/crun/none"}} {
		var got guestimage.Options
		lb := labBuilding(func(_ context.Context, o guestimage.Options) (*guestimage.Image, error) {
			got = o
			return &guestimage.Image{Result: &initramfs.Result{Path: "/initrd"}}, nil
		})
		lb.src, lb.cache, lb.stderr = "/src", "/cache", io.Discard
		m, err := lb.measurer(context.Background(), &lb, names, vmFlags{})
		require.NoError(t, err)
		assert.Equal(t, names, got.Scenarios, "the image's scenarios")
		assert.Equal(t, names, m.(*tree.QEMUMeasurer).Scenarios, "the measured scenarios")
		assert.Equal(t, "/cache", m.(*tree.QEMUMeasurer).CacheDir, "where the accelerator probe's answer is kept")
	}
}

func TestCIExitCodes(t *testing.T) {
	t.Setenv("COLDSTART_CACHE", t.TempDir())
	repo, commits := treetest.Repo(t, 9, 5)
	patches := t.TempDir()
	treetest.Git(t, repo, "format-patch", "--quiet", "-1", "-o", patches, commits[5])
	for _, tc := range []struct {
		name  string
		args  []string
		fail  map[string]bool
		code  int
		wants string
	}{
		{"harmless head", []string{"--base", commits[6], "--head", commits[8]}, nil, 0, "1 comparisons"},
		{"slow head", []string{"--base", commits[4], "--head", commits[5]}, nil, 1, "regressed"},
		{"slow patch", []string{"--base", commits[4], "--patches", patches}, nil, 1, "regressed"},
		{"head does not build", []string{"--base", commits[4], "--head", commits[6]}, map[string]bool{"commit 6": true}, 2, "error: expected ';'"},
		{"no head", []string{"--base", commits[4]}, nil, 2, "one of --head"},
		{"bad ref", []string{"--base", "nosuchref", "--head", commits[5]}, nil, 2, "nosuchref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &treetest.Builder{Fail: tc.fail}
			m := &treetest.Measurer{Scenario: "ipcns", Good: 10e6, Bad: 20e6, BootSpread: 0.1}
			var stdout, stderr bytes.Buffer
			args := append([]string{"--tree", repo, "--scenarios", "ipcns", "--out", t.TempDir()}, tc.args...)
			err := runCIWith(context.Background(), &stdout, &stderr, args, fakeLab(b, m))
			code := exitCode(context.Background(), &stderr, err)
			if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.wants) {
				t.Errorf("exit %d (want %d), output lacks %q?\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.wants, stdout.String(), stderr.String())
			}
		})
	}
}

func TestBisectCommand(t *testing.T) {
	t.Setenv("COLDSTART_CACHE", t.TempDir())
	repo, commits := treetest.Repo(t, 9, 3)
	b := &treetest.Builder{}
	m := &treetest.Measurer{Scenario: "ipcns", Good: 10e6, Bad: 20e6, BootSpread: 0.1}
	var stdout, stderr bytes.Buffer
	out := t.TempDir()
	args := []string{"--tree", repo, "--good", commits[0], "--bad", commits[8], "--scenario", "ipcns", "--out", out}
	err := runBisectWith(context.Background(), &stdout, &stderr, args, fakeLab(b, m))
	if code := exitCode(context.Background(), &stderr, err); code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr.String())
	}
	if want := "first bad commit: " + commits[3] + " commit 3"; !strings.Contains(stdout.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, stdout.String())
	}

	// Equal ends: refused with exit 2 and the numbers.
	m = &treetest.Measurer{Scenario: "ipcns", Good: 10e6, Bad: 10e6, BootSpread: 0.1}
	stdout.Reset()
	stderr.Reset()
	args = []string{"--tree", repo, "--good", commits[0], "--bad", commits[2], "--scenario", "ipcns", "--out", t.TempDir(), "--max-boots", "5"}
	err = runBisectWith(context.Background(), &stdout, &stderr, args, fakeLab(b, m))
	if code := exitCode(context.Background(), &stderr, err); code != 2 || !strings.Contains(stderr.String(), "do not differ significantly") {
		t.Errorf("equal ends: exit %d, stderr:\n%s", code, stderr.String())
	}
}

// ci and bisect --explain make the measurer trace and end their reports
// with where the time went: the fake's delay under create_ipc_ns.
func TestCIAndBisectExplain(t *testing.T) {
	t.Setenv("COLDSTART_CACHE", t.TempDir())
	repo, commits := treetest.Repo(t, 9, 5)
	const culprit = "own time grew most in __x64_sys_unshare > create_ipc_ns > msleep: +10.00ms per iteration"
	for _, tc := range []struct {
		name    string
		cmd     func(context.Context, io.Writer, io.Writer, []string, lab) error
		args    []string
		report  string
		code    int
		trace   int
		want    []string
		wantNot []string
	}{
		{name: "ci", cmd: runCIWith, args: []string{"--base", commits[4], "--head", commits[5], "--scenarios", "ipcns", "--explain"},
			report: "report.txt", code: 1, trace: 3, want: []string{"--- explain ipcns on base-", culprit}},
		{name: "ci trace 2", cmd: runCIWith, args: []string{"--base", commits[4], "--head", commits[5], "--scenarios", "ipcns", "--explain", "--trace", "2"},
			report: "report.md", code: 1, trace: 2, want: []string{"Where `ipcns` spends its time in the kernel", "traced: 12 iterations in 6 boots", "create_ipc_ns > msleep"}},
		{name: "ci without", cmd: runCIWith, args: []string{"--base", commits[4], "--head", commits[5], "--scenarios", "ipcns"},
			report: "report.txt", code: 1, wantNot: []string{"explain"}},
		{name: "ci bad trace", cmd: runCIWith, args: []string{"--base", commits[4], "--head", commits[5], "--explain", "--trace", "0"},
			code: 2, want: []string{"--trace must be at least 1"}},
		{name: "bisect", cmd: runBisectWith, args: []string{"--good", commits[0], "--bad", commits[8], "--scenario", "ipcns", "--explain"},
			report: "report.txt", code: 0, trace: 3, want: []string{"--- explain ipcns on last good " + commits[4][:12] + " → first bad " + commits[5][:12], culprit}},
		{name: "bisect without", cmd: runBisectWith, args: []string{"--good", commits[0], "--bad", commits[8], "--scenario", "ipcns"},
			report: "report.txt", code: 0, wantNot: []string{"explain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &treetest.Builder{}
			m := &treetest.Measurer{Scenario: "ipcns", Good: 10e6, Bad: 20e6, BootSpread: 0.1}
			var stdout, stderr bytes.Buffer
			out := t.TempDir()
			args := append([]string{"--tree", repo, "--out", out}, tc.args...)
			err := tc.cmd(context.Background(), &stdout, &stderr, args, fakeLab(b, m))
			if code := exitCode(context.Background(), &stderr, err); code != tc.code {
				t.Fatalf("exit %d, want %d: %v\n%s", code, tc.code, err, stderr.String())
			}
			if m.Trace != tc.trace {
				t.Errorf("measurer traces %d iterations, want %d", m.Trace, tc.trace)
			}
			outputs := map[string]string{"stdout+stderr": stdout.String() + stderr.String()}
			if tc.report != "" {
				rep, err := os.ReadFile(filepath.Join(out, tc.report))
				if err != nil {
					t.Fatal(err)
				}
				outputs[tc.report] = string(rep)
			}
			for name, got := range outputs {
				for _, w := range tc.want {
					if name == "stdout+stderr" && strings.HasPrefix(w, "Where `") {
						continue // markdown's heading; stdout is text
					}
					if !strings.Contains(got, w) {
						t.Errorf("%s lacks %q:\n%s", name, w, got)
					}
				}
				for _, w := range tc.wantNot {
					if strings.Contains(got, w) {
						t.Errorf("%s has %q:\n%s", name, w, got)
					}
				}
			}
		})
	}
}
