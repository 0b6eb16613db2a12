package kernels

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFetchDefaultKernel really fetches kernels/debian-6.1-cloud.toml from
// the mirror in the machine's APT sources into a fresh cache. It is skipped
// under -short, without apt-get, or when the archive cannot be reached.
func TestFetchDefaultKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: downloads about 27 MB")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skipf("apt-get not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	k, err := LoadFile("../../kernels/debian-6.1-cloud.toml")
	require.NoError(t, err)

	var progress bytes.Buffer
	f := &Fetcher{CacheDir: t.TempDir(), Progress: &progress}
	start := time.Now()
	im, err := f.Fetch(ctx, k)
	if errors.Is(err, ErrArchiveUnavailable) {
		t.Skipf("Debian archive unreachable: %v", err)
	}
	require.NoError(t, err, progress.String())
	t.Logf("cold fetch %s:\n%s", time.Since(start).Round(time.Millisecond), progress.String())

	m, err := readManifest(im.Dir)
	require.NoError(t, err)
	assert.Equal(t, k.Debian.SHA256, m.DebSHA256)
	for _, p := range []string{im.BzImage, im.Config, im.Vmlinux} {
		require.NotEmpty(t, p)
		sum, _, err := sha256File(p)
		require.NoError(t, err)
		assert.Equal(t, m.Files[filepath.Base(p)], sum, p)
	}
	assert.Equal(t, m.Files[filepath.Base(im.BzImage)], im.SHA256)
	assert.Contains(t, []string{"lz4", "zstd"}, im.Compression, "Debian cloud kernels are lz4 or zstd")
	vm, err := os.ReadFile(im.Vmlinux)
	require.NoError(t, err)
	pvh, err := HasPVH(vm)
	require.NoError(t, err)
	assert.True(t, pvh, "the vmlinux has a PVH entry note")
	assert.True(t, im.PVH)
	v, err := ConfigHas(im.Config, "CONFIG_PVH")
	require.NoError(t, err)
	assert.Equal(t, "y", v)

	// Second fetch: a cache hit that never runs apt-get.
	warm := *f
	warm.AptGet = "/nonexistent/apt-get"
	start = time.Now()
	im2, err := warm.Fetch(ctx, k)
	elapsed := time.Since(start)
	require.NoError(t, err)
	t.Logf("warm fetch %s", elapsed.Round(time.Millisecond))
	assert.True(t, im2.CacheHit)
	assert.Less(t, elapsed, time.Second)
	assert.Equal(t, im.Vmlinux, im2.Vmlinux)

	// Tampering with a cached file is detected on the next use.
	fh, err := os.OpenFile(im.BzImage, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fh.WriteAt([]byte{0xff}, 0x1000)
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	progress.Reset()
	warm.Progress = &progress
	_, err = warm.Fetch(ctx, k)
	require.Error(t, err, "cannot repair without apt-get")
	assert.Contains(t, progress.String(), "failed verification")
	assert.Contains(t, progress.String(), filepath.Base(im.BzImage)+": sha256")

	// With apt-get it is repaired.
	progress.Reset()
	f.Progress = &progress
	im3, err := f.Fetch(ctx, k)
	require.NoError(t, err, progress.String())
	assert.False(t, im3.CacheHit)
	assert.Equal(t, im.SHA256, im3.SHA256)
}

// TestBuildFromDebianSource builds kernels/tiny-6.1.toml for real: Debian's
// linux-source-6.1 (139 MB), make tinyconfig + the fragment +
// olddefconfig, the fragment check, make bzImage. That takes 12 minutes or
// more on two cores, so it runs only with COLDSTART_LONG=1. It uses the
// normal cache (DefaultCacheDir), so a second run is a verified cache hit.
func TestBuildFromDebianSource(t *testing.T) {
	if os.Getenv("COLDSTART_LONG") != "1" {
		t.Skip("a real kernel build takes 12+ minutes: set COLDSTART_LONG=1 to run it")
	}
	for _, tool := range []string{"apt-get", "make", "gcc", "flex", "bison", "bc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (build dependencies: build-essential flex bison bc libelf-dev libssl-dev): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	defer cancel()
	k, err := LoadFile("../../kernels/tiny-6.1.toml")
	require.NoError(t, err)
	var progress bytes.Buffer
	start := time.Now()
	im, err := (&Fetcher{Progress: &progress}).Fetch(ctx, k)
	require.NoError(t, err, progress.String())
	t.Logf("build (or cache hit) in %s:\n%s", time.Since(start).Round(time.Second), progress.String())
	assert.True(t, im.PVH, "the fragment turns on CONFIG_PVH")
	c, err := im.KernelConfig()
	require.NoError(t, err)
	for _, o := range []string{"CONFIG_SMP", "CONFIG_TREE_RCU", "CONFIG_NET_NS", "CONFIG_IKCONFIG_PROC"} {
		assert.Equal(t, "y", c[o], o)
	}
	assert.Empty(t, c["CONFIG_MODULES"])
}

// TestBuildFromTarballMirror builds a kernel through the tarball path
// (the one kernel.org tarballs take) with no network but Debian's: the
// linux-source-6.1 package pinned in kernels/tiny-6.1.toml is fetched
// through the private APT state, its linux-source-6.1.tar.xz is put in the
// mirror directory, and a [build.tarball] kernel whose URL cannot be
// reached is built from it. A real build: COLDSTART_LONG=1 only.
func TestBuildFromTarballMirror(t *testing.T) {
	if os.Getenv("COLDSTART_LONG") != "1" {
		t.Skip("a real kernel build takes 12+ minutes: set COLDSTART_LONG=1 to run it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	defer cancel()
	src, err := LoadFile("../../kernels/tiny-6.1.toml")
	require.NoError(t, err)
	cache, err := DefaultCacheDir()
	require.NoError(t, err)
	var progress bytes.Buffer
	f := &Fetcher{CacheDir: cache, Progress: &progress}
	tmp := t.TempDir()
	deb, err := f.fetchDeb(ctx, src, cache, src.Build.Debian, "build.debian.sha256", tmp)
	require.NoError(t, err, progress.String())
	root := filepath.Join(tmp, "root")
	out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput()
	require.NoError(t, err, "%s", out)
	tarball := filepath.Join(root, "usr", "src", "linux-source-6.1.tar.xz")
	sum, _, err := sha256File(tarball)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(MirrorDir(cache), 0o755))
	require.NoError(t, os.Rename(tarball, filepath.Join(MirrorDir(cache), "linux-source-6.1.tar.xz")))

	k := Kernel{Name: "tarball-6.1", Version: "6.1.192", Source: SourceBuild, File: "kernels/tarball-6.1.toml",
		Build: &Build{Config: "configs/coldstart.config",
			Tarball: &Tarball{URL: "https://unreachable.invalid/linux-source-6.1.tar.xz", SHA256: sum}}}
	k.File = "../../kernels/tarball-6.1.toml" // the fragment is found beside it
	start := time.Now()
	im, err := f.Fetch(ctx, k)
	require.NoError(t, err, progress.String())
	t.Logf("tarball sha256 %s; build (or cache hit) in %s:\n%s", sum, time.Since(start).Round(time.Second), progress.String())
	assert.Contains(t, progress.String(), "from the mirror directory")
	assert.Contains(t, progress.String(), "toolchain for 6.1.192: the system's gcc and binutils")
	c, err := im.KernelConfig()
	require.NoError(t, err)
	for _, o := range []string{"CONFIG_SMP", "CONFIG_TREE_RCU", "CONFIG_NET_NS", "CONFIG_IPC_NS"} {
		assert.Equal(t, "y", c[o], o)
	}
}
