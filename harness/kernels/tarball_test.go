package kernels

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// makeTarball writes linux-9.9.9.tar.gz holding one directory with a
// kernel-like Makefile, and returns its path and SHA-256.
func makeTarball(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "linux-9.9.9")
	require.NoError(t, os.MkdirAll(tree, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tree, "Makefile"), []byte("VERSION = 9\nPATCHLEVEL = 9\nSUBLEVEL = 9\n"), 0o644))
	tgz := filepath.Join(t.TempDir(), "linux-9.9.9.tar.gz")
	out, err := exec.Command("tar", "-czf", tgz, "-C", dir, "linux-9.9.9").CombinedOutput()
	require.NoError(t, err, "%s", out)
	sum, _, err := sha256File(tgz)
	require.NoError(t, err)
	return tgz, sum
}

func tarballKernel(url, sum string) Kernel {
	return Kernel{Name: "tar-9.9", Version: "9.9.9", Source: SourceBuild, File: "kernels/tar-9.9.toml",
		Build: &Build{Tarball: &Tarball{URL: url, SHA256: sum}}}
}

func TestTarballFromMirror(t *testing.T) {
	tgz, sum := makeTarball(t)
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache}
	ctx := context.Background()
	// The URL cannot be reached: only the mirror directory can serve it.
	k := tarballKernel("https://cdn.kernel.org.invalid/pub/linux/kernel/v9.x/linux-9.9.9.tar.gz", sum)
	require.NoError(t, k.validate())
	assert.Equal(t, "linux-9.9.9.tar.gz", k.Build.Tarball.FileName())

	_, err := f.tarballTree(ctx, k, cache)
	require.Error(t, err, "not in the mirror, and the download fails")
	assert.Contains(t, err.Error(), "put the file there")
	assert.Contains(t, err.Error(), MirrorDir(cache))

	require.NoError(t, os.MkdirAll(MirrorDir(cache), 0o755))
	data := readOr(t, tgz)
	require.NoError(t, os.WriteFile(filepath.Join(MirrorDir(cache), "linux-9.9.9.tar.gz"), data, 0o644))
	tree, err := f.tarballTree(ctx, k, cache)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(cache, "src", "tarball-"+sum[:12], "linux-9.9.9"), tree)
	facts, err := ProbeTree(tree)
	require.NoError(t, err)
	assert.Equal(t, "9.9.9", facts.Version)

	// Unpacked once: a second call does not read the tarball again.
	require.NoError(t, os.Remove(filepath.Join(MirrorDir(cache), "linux-9.9.9.tar.gz")))
	again, err := f.tarballTree(ctx, k, cache)
	require.NoError(t, err)
	assert.Equal(t, tree, again)
}

func TestTarballChecksumMismatch(t *testing.T) {
	tgz, _ := makeTarball(t)
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache}
	require.NoError(t, os.MkdirAll(MirrorDir(cache), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(MirrorDir(cache), "linux-9.9.9.tar.gz"), readOr(t, tgz), 0o644))
	wrong := "0000000000000000000000000000000000000000000000000000000000000000"
	_, err := f.tarballTree(context.Background(), tarballKernel("https://example.invalid/linux-9.9.9.tar.gz", wrong), cache)
	assert.ErrorIs(t, err, ErrChecksumMismatch)
	assert.Contains(t, err.Error(), "pins "+wrong)
	_, statErr := os.Stat(filepath.Join(cache, "src", "tarball-"+wrong[:12]))
	assert.True(t, os.IsNotExist(statErr), "nothing unpacked")
}

func TestTarballDownloadIntoMirror(t *testing.T) {
	tgz, sum := makeTarball(t)
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache}
	tree, err := f.tarballTree(context.Background(), tarballKernel("file://"+tgz, sum), cache)
	require.NoError(t, err)
	assert.DirExists(t, tree)
	assert.FileExists(t, filepath.Join(MirrorDir(cache), "linux-9.9.9.tar.gz"), "kept in the mirror for the next machine")
	assert.NoFileExists(t, filepath.Join(MirrorDir(cache), "linux-9.9.9.tar.gz.part"))
}

func TestTarballUnpinnedRefused(t *testing.T) {
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache}
	t.Setenv(OnlyEnv, "tar-9.9") // as under make test: the refusal comes before any guard
	k := tarballKernel("https://cdn.kernel.org/pub/linux/kernel/v4.x/linux-4.9.337.tar.xz", "")
	require.NoError(t, k.validate(), "an empty pin loads, so kernels list shows it")
	_, err := f.Fetch(context.Background(), k)
	assert.ErrorIs(t, err, ErrUnpinned)
	for _, want := range []string{"build.tarball.sha256 is empty", "linux-4.9.337.tar.xz", "sha256sums.asc", MirrorDir(cache)} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestTarballValidation(t *testing.T) {
	for name, b := range map[string]*Build{
		"no url":         {Tarball: &Tarball{SHA256: ""}},
		"not a tarball":  {Tarball: &Tarball{URL: "https://example.org/linux.zip"}},
		"bad sha256":     {Tarball: &Tarball{URL: "https://example.org/linux-4.9.tar.xz", SHA256: "abc"}},
		"tree and tar":   {Tree: "/src/linux", Tarball: &Tarball{URL: "https://example.org/linux-4.9.tar.xz"}},
		"ftp not served": {Tarball: &Tarball{URL: "ftp://example.org/linux-4.9.tar.xz"}},
	} {
		k := Kernel{Name: "x", Version: "4.9", Source: SourceBuild, Build: b}
		assert.ErrorIs(t, k.validate(), ErrInvalidKernelFile, name)
	}
}
