package kernels

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files in testdata/golden")

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *updateGolden {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run go test -update to create golden files")
	assert.Equal(t, string(want), got, "golden file %s (go test -update rewrites it)", p)
}

func TestParseSources(t *testing.T) {
	srcs, err := readSources([]string{
		"testdata/sources/debian.sources",
		"testdata/sources/sources.list",
		"testdata/sources/missing.list", // absent files are skipped
	})
	require.NoError(t, err)
	var got [][]string
	for _, s := range srcs {
		got = append(got, append(append([]string{s.URIs[0]}, s.Suites...), "|"+s.SignedBy))
	}
	assert.Equal(t, [][]string{
		{"http://mirror.invalid/debian", "bookworm", "bookworm-updates", "|/usr/share/keyrings/debian-archive-keyring.gpg"},
		{"http://security-mirror.invalid/debian-security", "bookworm-security", "|/usr/share/keyrings/debian-archive-keyring.gpg"},
		{"http://oneline.invalid/debian", "bullseye", "|/usr/share/keyrings/debian-archive-keyring.gpg"},
		{"http://oneline.invalid/debian", "bullseye-updates", "|"},
		{"http://oneline-security.invalid/debian-security", "bullseye-security", "|"},
		{"cdrom:[Debian", "GNU/Linux", "|"}, // parsed, never picked
		{"https://vendor.invalid/apt", "cloud-sdk-bullseye", "|"},
	}, got)
	assert.Equal(t, "testdata/sources/sources.list", srcs[2].File)
}

func TestPickMirror(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		suite   string
		wantURI string
		wantErr string
	}{
		{"deb822 main", []string{"debian.sources"}, "bookworm", "http://mirror.invalid/debian", ""},
		{"deb822 other release reuses main mirror", []string{"debian.sources"}, "sid", "http://mirror.invalid/debian", ""},
		{"deb822 backports", []string{"debian.sources"}, "bookworm-backports", "http://mirror.invalid/debian", ""},
		{"deb822 security", []string{"debian.sources"}, "bookworm-security", "http://security-mirror.invalid/debian-security", ""},
		{"deb822 other security suite", []string{"debian.sources"}, "bullseye-security", "http://security-mirror.invalid/debian-security", ""},
		{"one-line main", []string{"sources.list"}, "trixie", "http://oneline.invalid/debian", ""},
		{"one-line security", []string{"sources.list"}, "bookworm-security", "http://oneline-security.invalid/debian-security", ""},
		{"old-style security suite", []string{"old-security.list"}, "bullseye-security", "http://oneline-security.invalid/debian-security", ""},
		{"third-party entries are not Debian", []string{"third-party.sources"}, "bookworm", "", "no Debian mirror"},
		{"no security entry", []string{"third-party.sources", "inline-key.sources"}, "bookworm-security", "", "-security"},
		{"third party ignored next to Debian", []string{"third-party.sources", "inline-key.sources"}, "bookworm", "http://mirror.invalid/debian", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var files []string
			for _, f := range tc.files {
				files = append(files, filepath.Join("testdata", "sources", f))
			}
			srcs, err := readSources(files)
			require.NoError(t, err)
			m, err := pickMirror(srcs, tc.suite)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrNoMirror)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantURI, m.URI)
		})
	}
}

func TestPrivateSourcesGolden(t *testing.T) {
	for _, tc := range []struct{ file, suite, golden string }{
		{"debian.sources", "bookworm-security", "security.sources"},
		{"debian.sources", "trixie", "trixie.sources"},
		{"inline-key.sources", "sid", "inline-key.sources"},
		{"old-security.list", "bookworm", "no-signed-by.sources"},
	} {
		srcs, err := readSources([]string{filepath.Join("testdata", "sources", tc.file)})
		require.NoError(t, err)
		m, err := pickMirror(srcs, tc.suite)
		require.NoError(t, err)
		golden(t, tc.golden, m.sourcesFor(tc.suite))
	}
}

func TestDefaultSourcesFilesAreSystemPaths(t *testing.T) {
	files := DefaultSourcesFiles()
	require.NotEmpty(t, files)
	assert.Equal(t, "/etc/apt/sources.list", files[0])
	for _, f := range files[1:] {
		assert.Regexp(t, `^/etc/apt/sources\.list\.d/.*\.(list|sources)$`, f)
	}
}
