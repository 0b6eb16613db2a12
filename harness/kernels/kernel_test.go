package kernels

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodDebian = `name = "debian-6.1-cloud"
version = "6.1.192"
source = "debian"

[debian]
suite = "bookworm-security"
package = "linux-image-6.1.0-57-cloud-amd64"
version = "6.1.192-3"
sha256 = "4fdd0172a8c3f41a97e92465b2ac1867e1c10d82d7aeed3d26ee7a5d14df1754"
`

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestLoadFileGood(t *testing.T) {
	p := writeTemp(t, "k.toml", goodDebian)
	k, err := LoadFile(p)
	require.NoError(t, err)
	assert.Equal(t, Kernel{
		Name:    "debian-6.1-cloud",
		Version: "6.1.192",
		Source:  SourceDebian,
		File:    p,
		Default: true,
		Debian: &Debian{
			Suite:   "bookworm-security",
			Package: "linux-image-6.1.0-57-cloud-amd64",
			Version: "6.1.192-3",
			SHA256:  "4fdd0172a8c3f41a97e92465b2ac1867e1c10d82d7aeed3d26ee7a5d14df1754",
		},
	}, k)

	// default = false keeps it out of a matrix without --kernels.
	k, err = LoadFile(writeTemp(t, "k.toml", strings.Replace(goodDebian, `source = "debian"`, "source = \"debian\"\ndefault = false", 1)))
	require.NoError(t, err)
	assert.False(t, k.Default)
}

func TestLoadFileErrors(t *testing.T) {
	replace := func(old, new string) string {
		require.Contains(t, goodDebian, old)
		return strings.Replace(goodDebian, old, new, 1)
	}
	tests := []struct {
		name    string
		content string
		want    []string // substrings of the error, besides the file name
	}{
		{"unknown top-level key", goodDebian + "\n[extra]\nflavour = \"cloud\"\n",
			[]string{`field "extra"`, "extra.flavour", "unknown key", "remove it or fix its spelling"}},
		{"unknown key in section", replace(`suite = `, `arch = "amd64"`+"\nsuite = "),
			[]string{`field "debian.arch"`, "unknown key"}},
		{"misspelt top-level key", replace(`source = `, `sauce = `),
			[]string{`field "sauce"`, "unknown key"}},
		{"missing name", replace(`name = "debian-6.1-cloud"`, ``),
			[]string{`field "name"`, "missing", "add name ="}},
		{"missing version", replace(`version = "6.1.192"`+"\n", ``),
			[]string{`field "version"`, "missing"}},
		{"missing source", replace(`source = "debian"`, ``),
			[]string{`field "source"`, "missing", `"debian", "gomod", "build", "file"`}},
		{"missing sha256", replace(`sha256 = "4fdd0172a8c3f41a97e92465b2ac1867e1c10d82d7aeed3d26ee7a5d14df1754"`, ``),
			[]string{`field "debian.sha256"`, "missing", "SHA-256 of the .deb"}},
		{"missing package", replace(`package = "linux-image-6.1.0-57-cloud-amd64"`, ``),
			[]string{`field "debian.package"`, "missing"}},
		{"missing debian section", "name = \"x\"\nversion = \"6.1\"\nsource = \"debian\"\n",
			[]string{`field "debian"`, "needs a [debian] section"}},
		{"bad name", replace(`"debian-6.1-cloud"`, `"Debian 6.1"`),
			[]string{`field "name"`, `"Debian 6.1" is not a valid name`, "lowercase letters"}},
		{"dot-dot name", replace(`"debian-6.1-cloud"`, `".."`),
			[]string{`field "name"`, "not a valid name"}},
		{"bad sha256", replace(`4fdd0172a8c3f41a97e92465b2ac1867e1c10d82d7aeed3d26ee7a5d14df1754`, `4fdd0172`),
			[]string{`field "debian.sha256"`, `"4fdd0172" is not a SHA-256`, "64 hex digits"}},
		{"non-hex sha256", replace(`4fdd0172a8c3f41a97e92465b2ac1867e1c10d82d7aeed3d26ee7a5d14df1754`, strings.Repeat("g", 64)),
			[]string{`field "debian.sha256"`, "is not a SHA-256"}},
		{"glob package", replace(`linux-image-6.1.0-57-cloud-amd64`, `linux-image-6.1.0-*-cloud-amd64`),
			[]string{`field "debian.package"`, "not an exact Debian package name"}},
		{"bad suite", replace(`bookworm-security`, `bookworm/updates`),
			[]string{`field "debian.suite"`, "not a Debian suite name"}},
		{"unknown source", replace(`source = "debian"`, `source = "git"`),
			[]string{`field "source"`, `"git" is not a known source`, `"debian", "gomod", "build", "file"`}},
		{"section for another source", goodDebian + "\n[file]\npath = \"/boot/vmlinuz\"\n",
			[]string{`field "file"`, `source = "debian"`}},
		{"relative file path", "name = \"x\"\nversion = \"6.1\"\nsource = \"file\"\n[file]\npath = \"bzImage\"\n",
			[]string{`field "file.path"`, "not absolute"}},
		{"bad version", replace(`version = "6.1.192"`, `version = "v6.1"`),
			[]string{`field "version"`, "not an upstream version"}},
		{"wrong type", replace(`version = "6.1.192"`, `version = 6.1`),
			[]string{"invalid kernel file", "version"}},
		{"syntax error", goodDebian + "\nname = \n",
			[]string{"invalid kernel file", "fix the TOML syntax"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, "k.toml", tc.content)
			_, err := LoadFile(p)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidKernelFile)
			assert.Contains(t, err.Error(), p, "the error names the file")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadSortsByVersionThenName(t *testing.T) {
	ks, err := Load("testdata/kernels-good")
	require.NoError(t, err)
	var names []string
	for _, k := range ks {
		names = append(names, k.Name)
	}
	assert.Equal(t, []string{"aa-cloud", "zz-old", "exp-rc", "sid-7.3"}, names)
	k, err := Lookup(ks, "sid-7.3")
	require.NoError(t, err)
	assert.Equal(t, "abcdef"+strings.Repeat("0", 58), k.Local.SHA256, "digests are lowercased")

	_, err = Lookup(ks, "nope")
	assert.ErrorIs(t, err, ErrUnknownKernel)
	assert.Contains(t, err.Error(), "aa-cloud, zz-old, exp-rc, sid-7.3")
}

func TestLoadRejectsDuplicatesAndReportsAllBadFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.toml"), []byte(goodDebian), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.toml"), []byte(goodDebian), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.toml"), []byte("name = 1\n"), 0o644))
	_, err := Load(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "b.toml"))
	assert.Contains(t, err.Error(), "already defined in "+filepath.Join(dir, "a.toml"))
	assert.Contains(t, err.Error(), filepath.Join(dir, "c.toml"))

	_, err = Load(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestProjectKernelFiles(t *testing.T) {
	ks, err := Load("../../kernels")
	require.NoError(t, err)
	k, err := Lookup(ks, "debian-6.1-cloud")
	require.NoError(t, err)
	assert.Equal(t, SourceDebian, k.Source)
	assert.Contains(t, k.Debian.Package, "-cloud-amd64")
}

func TestLookupAllSets(t *testing.T) {
	ks, err := Load("../../kernels")
	require.NoError(t, err)
	story, err := LookupAll(ks, "story")
	require.NoError(t, err)
	var names []string
	for _, k := range story {
		names = append(names, k.Name)
		assert.Equal(t, SourceBuild, k.Source, "%s: the story set is built with one fragment, so rows compare kernels", k.Name)
		assert.False(t, k.Default, "%s needs a build: not in the default matrix", k.Name)
	}
	assert.Equal(t, []string{"tiny-4.5", "tiny-4.9", "tiny-4.14", "tiny-4.19", "tiny-5.4", "tiny-6.1", "tiny-7.2"}, names, "4.5 to 7.x, in version order")

	one, err := LookupAll(ks, "tiny-4.19")
	require.NoError(t, err)
	require.Len(t, one, 1)
	assert.Equal(t, "4.19.325", one[0].Version)

	_, err = LookupAll(ks, "no-such")
	assert.ErrorIs(t, err, ErrUnknownKernel)
	assert.ErrorContains(t, err, "known sets are story")

	bad := writeTemp(t, "bad.toml", "name = \"x\"\nversion = \"1\"\nsource = \"file\"\nsets = [\"all\"]\n[file]\npath = \"/x\"\n")
	_, err = LoadFile(bad)
	assert.ErrorIs(t, err, ErrInvalidKernelFile)
}
