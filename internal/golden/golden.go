// Package golden compares test output with golden files in testdata/: a
// mismatch writes the output beside the golden file as NAME.got (which git
// ignores) and fails with a (-want +got) diff; COLDSTART_UPDATE_GOLDEN=1
// rewrites the golden file instead.
//
// Environment: COLDSTART_UPDATE_GOLDEN.
package golden

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Check compares got with testdata/name.
func Check(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("COLDSTART_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file missing (run with COLDSTART_UPDATE_GOLDEN=1 to write it): %v", err)
	}
	if bytes.Equal(want, got) {
		os.Remove(path + ".got")
		return
	}
	if err := os.WriteFile(path+".got", got, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Errorf("%s differs from the golden file (wrote %s.got; COLDSTART_UPDATE_GOLDEN=1 accepts it):\n%s", name, path, Diff(string(want), string(got)))
}

// Diff is a small (-want +got) line diff: lines only in one side, in
// order.
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	// Longest common subsequence table.
	lcs := make([][]int, len(w)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	b.WriteString("(-want +got)\n")
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			i++
			j++
		case j < len(g) && (i == len(w) || lcs[i][j+1] >= lcs[i+1][j]):
			b.WriteString("+" + g[j] + "\n")
			j++
		default:
			b.WriteString("-" + w[i] + "\n")
			i++
		}
	}
	return b.String()
}
