package kernels

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeries(t *testing.T) {
	tests := map[string]string{
		"linux-image-6.1.0-57-cloud-amd64":         "linux-image 6.1 cloud-amd64",
		"linux-image-6.1.0-50-cloud-amd64":         "linux-image 6.1 cloud-amd64",
		"linux-image-6.1.0-0.deb11.48-cloud-amd64": "linux-image 6.1 cloud-amd64",
		"linux-image-6.1.0-57-amd64":               "linux-image 6.1 amd64",
		"linux-image-6.12.117+deb13-cloud-amd64":   "linux-image 6.12 cloud-amd64",
		"linux-image-6.12.90+deb12.1-cloud-amd64":  "linux-image 6.12 cloud-amd64",
		"linux-binary-7.2.13+deb14-cloud-amd64":    "linux-binary 7.2 cloud-amd64",
		"linux-base-7.2.13+deb14-cloud-amd64":      "linux-base 7.2 cloud-amd64",
		"linux-image-5.10.0-32-cloud-amd64":        "linux-image 5.10 cloud-amd64",
		"linux-source-6.1":                         "linux-source-6.1",
	}
	for pkg, want := range tests {
		assert.Equal(t, want, Series(pkg), pkg)
	}
	assert.NotEqual(t, Series("linux-image-6.1.0-57-cloud-amd64"), Series("linux-image-6.1.0-57-cloud-amd64-unsigned"))
}

func TestUpstreamOf(t *testing.T) {
	assert.Equal(t, "6.12.117", upstreamOf("6.12.117-1~deb12u1"))
	assert.Equal(t, "7.1.2", upstreamRelease("7.1.2-gokrazy"))
}

const testPackages = `Package: linux-image-6.1.0-56-cloud-amd64
Version: 6.1.192-2
Size: 100
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

Package: linux-image-6.1.0-57-cloud-amd64
Version: 6.1.192-3
Size: 200
SHA256: 2222222222222222222222222222222222222222222222222222222222222222

Package: linux-image-6.1.0-57-amd64
Version: 6.1.192-3
Size: 300
SHA256: 3333333333333333333333333333333333333333333333333333333333333333

Package: linux-image-6.12.117+deb12-cloud-amd64
Version: 6.12.117-1~deb12u1
SHA256: 4444444444444444444444444444444444444444444444444444444444444444
`

func TestRewriteKernelFileKeepsComments(t *testing.T) {
	p := writeTemp(t, "k.toml", "# my kernel\n"+strings.Replace(goodDebian, `version = "6.1.192-3"`, `version = "6.1.192-3"   # pinned on a Monday`, 1))
	require.NoError(t, RewriteKernelFile(p, map[string]string{
		"version": "6.1.193", "debian.version": "6.1.193-1", "debian.package": "linux-image-6.1.0-58-cloud-amd64",
		"debian.sha256": strings.Repeat("ab", 32),
	}))
	got := string(readOr(t, p))
	assert.True(t, strings.HasPrefix(got, "# my kernel\n"))
	assert.Contains(t, got, `version = "6.1.193-1"   # pinned on a Monday`)
	assert.Contains(t, got, "\nversion = \"6.1.193\"\n")
	k, err := LoadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "linux-image-6.1.0-58-cloud-amd64", k.Debian.Package)

	assert.ErrorContains(t, RewriteKernelFile(p, map[string]string{"debian.nope": "x"}), "debian.nope not found")
	assert.ErrorContains(t, RewriteKernelFile(p, map[string]string{"debian.sha256": "short"}), "would not load")
	assert.Equal(t, got, string(readOr(t, p)), "a refused rewrite leaves the file alone")
}

func TestStaleAndUpdateWithFakeApt(t *testing.T) {
	ctx := context.Background()
	apt := newFakeApt(t)
	require.NoError(t, os.WriteFile(filepath.Join(apt.ctl, "packages"), []byte(testPackages), 0o644))
	old := strings.NewReplacer(`linux-image-6.1.0-57-cloud-amd64`, `linux-image-6.1.0-55-cloud-amd64`, `"6.1.192-3"`, `"6.1.192-1"`).Replace(goodDebian)
	p := writeTemp(t, "k.toml", old)
	k, err := LoadFile(p)
	require.NoError(t, err)
	f := &Fetcher{CacheDir: t.TempDir(), AptGet: apt.path, SourcesFiles: []string{"testdata/sources/debian.sources"}}

	// The pinned version is gone: the error says so and names the re-pin command.
	_, err = f.Fetch(ctx, k)
	require.ErrorIs(t, err, ErrPackageNotFound)
	var se *StaleError
	require.ErrorAs(t, err, &se)
	require.NotNil(t, se.Newest)
	assert.Contains(t, err.Error(), "linux-image-6.1.0-55-cloud-amd64=6.1.192-1 is no longer served by bookworm-security")
	assert.Contains(t, err.Error(), "newest of the same series is linux-image-6.1.0-57-cloud-amd64=6.1.192-3")
	assert.Contains(t, err.Error(), "coldstart kernels update debian-6.1-cloud")

	r, err := f.Update(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"version":        "6.1.192",
		"debian.package": "linux-image-6.1.0-57-cloud-amd64",
		"debian.version": "6.1.192-3",
		"debian.sha256":  strings.Repeat("2", 64),
	}, withoutUnchanged(r.Changes, k))
	require.NoError(t, RewriteKernelFile(p, r.Changes))
	nk, err := LoadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "linux-image-6.1.0-57-cloud-amd64", nk.Debian.Package)
	_, err = f.Update(ctx, nk)
	assert.ErrorIs(t, err, ErrUpToDate)
}

func withoutUnchanged(c map[string]string, k Kernel) map[string]string {
	out := map[string]string{}
	for f, v := range c {
		out[f] = v
	}
	if out["version"] == "" {
		out["version"] = k.Version
	}
	return out
}

func TestExpiredReleaseIsUsedWithAWarning(t *testing.T) {
	apt := newFakeApt(t)
	require.NoError(t, os.WriteFile(filepath.Join(apt.ctl, "expired"), nil, 0o644))
	fx := newDebFixture(t)
	apt.serve(t, fx.spec(), fx.deb)
	var progress strings.Builder
	f := &Fetcher{CacheDir: t.TempDir(), Progress: &progress, AptGet: apt.path, SourcesFiles: []string{"testdata/sources/debian.sources"}}
	_, err := f.Fetch(context.Background(), fx.kernel)
	require.NoError(t, err, progress.String())
	assert.Contains(t, progress.String(), "Release file on http://security-mirror.invalid/debian-security is expired")
	assert.Contains(t, progress.String(), "pinned by SHA-256")
	assert.Equal(t, []string{"update", "update", "download " + fx.spec()}, apt.calls(t))
	log := strings.Split(strings.TrimSpace(apt.rawLog(t)), "\n")
	require.Len(t, log, 3)
	assert.NotContains(t, log[0], "Check-Valid-Until", "validity is checked first")
	assert.Contains(t, log[1], "-o Acquire::Check-Valid-Until=false update", "then the expired Release is accepted")
}
