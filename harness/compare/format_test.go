package compare

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gold "coldstart/internal/golden"
	"coldstart/stats"
)

// golden compares got with testdata/name (see internal/golden).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	gold.Check(t, name, got)
}

func fixtureReport(t *testing.T) *Report {
	t.Helper()
	base, next := fixtureRuns(t)
	o := DefaultOptions()
	o.Thresholds = map[string]float64{"ipcns": 0.10}
	r, err := Compare(base, next, o)
	require.NoError(t, err)
	// Temporary paths would make the golden files differ run to run.
	r.Base, r.New = "base", "new"
	return r
}

func TestFixtureVerdicts(t *testing.T) {
	r := fixtureReport(t)
	got := map[string]stats.Verdict{}
	for _, row := range r.Rows {
		got[row.Kernel+"/"+row.Scenario] = row.Verdict
	}
	assert.Equal(t, map[string]stats.Verdict{
		"debian-6.1-cloud/netns": stats.Regressed, "debian-6.1-cloud/ipcns": stats.Same,
		"debian-6.1-cloud/utsns": stats.Unknown, "debian-6.1-cloud/mqueue": stats.Improved,
		"debian-6.1-cloud/clone-all": Failed, "debian-6.1-cloud/userns": Unsupported,
		"debian-6.12-cloud/netns": stats.Unknown, "debian-6.12-cloud/ipcns": stats.Same,
	}, got)
	assert.True(t, r.Regressed())
	for _, row := range r.Rows {
		if row.Kernel == "debian-6.12-cloud" {
			assert.Equal(t, []int{2}, row.New.Excluded)
			assert.Equal(t, 6, row.New.Boots)
			assert.Contains(t, row.Note, "coarse clock")
		}
	}
}

func TestGoldenFormats(t *testing.T) {
	r := fixtureReport(t)
	for _, f := range []struct{ format, file string }{
		{"text", "compare.txt"}, {"markdown", "compare.md"}, {"json", "compare.json"},
		{"junit", "compare.junit.xml"}, {"benchstat", "compare.bench.txt"}, {"html", "compare.html"},
	} {
		t.Run(f.format, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, Write(&b, f.format, r))
			golden(t, f.file, b.Bytes())
		})
	}
	var b bytes.Buffer
	assert.Error(t, Write(&b, "yaml", r))
}

// The JUnit output must satisfy testdata/junit.xsd (the common Jenkins /
// Ant JUnit schema, reduced to what coldstart writes). xmllint does the
// check where libxml2-utils is installed; a structural check runs always.
func TestJUnitSchema(t *testing.T) {
	r := fixtureReport(t)
	var b bytes.Buffer
	require.NoError(t, WriteJUnit(&b, r))

	var doc junitSuites
	require.NoError(t, xml.Unmarshal(b.Bytes(), &doc))
	// 8 rows and the gate's suite, whose one case is clone-all: it ran
	// in the base and fails in the new run, a regression (a failure).
	assert.Equal(t, 9, doc.Tests)
	assert.Equal(t, 2, doc.Failures)
	assert.Equal(t, 1, doc.Errors)
	assert.Equal(t, 1, doc.Skipped)
	require.Len(t, doc.Suites, 3)
	assert.Equal(t, "gate", doc.Suites[2].Name)
	for _, s := range doc.Suites {
		assert.Equal(t, len(s.Cases), s.Tests)
		for _, c := range s.Cases {
			assert.NotEmpty(t, c.Name)
			assert.NotEmpty(t, c.Classname)
		}
	}

	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("xmllint not found in CI (install libxml2-utils): %v", err)
		}
		t.Skipf("xmllint not found (apt-get install libxml2-utils); structural check passed: %v", err)
	}
	f := filepath.Join(t.TempDir(), "junit.xml")
	require.NoError(t, os.WriteFile(f, b.Bytes(), 0o644))
	out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join("testdata", "junit.xsd"), f).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "validates")
}

func TestCompareBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{nope"), 0o644))
	base, _ := fixtureRuns(t)
	_, err := Compare(base, bad, DefaultOptions())
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	_, err = Compare(base, filepath.Join(dir, "missing"), DefaultOptions())
	assert.ErrorContains(t, err, "missing")
	empty := t.TempDir()
	_, err = Compare(base, empty, DefaultOptions())
	assert.ErrorIs(t, err, ErrNoResults)
}

// Two single files are compared whatever their kernels: two kernels side
// by side.
func TestCompareTwoKernelFiles(t *testing.T) {
	base, next := fixtureRuns(t)
	r, err := Compare(filepath.Join(base, "debian-6.1-cloud.json"), filepath.Join(next, "debian-6.12-cloud.json"), DefaultOptions())
	require.NoError(t, err)
	require.NotEmpty(t, r.Rows)
	assert.Equal(t, "debian-6.1-cloud → debian-6.12-cloud", r.Rows[0].Kernel)
	assert.Equal(t, "BenchmarkColdstart/kernel=debian-6.1-cloud-vs-debian-6.12-cloud/scenario=netns", BenchName(r.Rows[0].Kernel, "netns"))
}
