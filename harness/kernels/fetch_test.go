package kernels

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/internal/atomicfile"
)

// fakeApt is a stand-in apt-get: "update" creates a Packages file in the
// private lists directory it is pointed at, "download <spec>" copies a
// prepared .deb into the working directory when spec is the accepted one.
// Every call is logged.
type fakeApt struct {
	path, ctl string
}

const fakeAptScript = `#!/bin/sh
ctl=%CTL%
echo "APT_CONFIG=$APT_CONFIG $*" >> "$ctl/log"
for a in "$@"; do
	case "$a" in
	Dir::State::Lists=*) lists=${a#Dir::State::Lists=} ;;
	Dir::Etc::SourceList=*) srcs=${a#Dir::Etc::SourceList=} ;;
	esac
	last=$a
done
case " $* " in
*" update "*)
	if [ -e "$ctl/fail-update" ]; then
		echo "Err:1 http://mirror.invalid/debian bookworm InRelease"
		echo "W: Failed to fetch http://mirror.invalid/debian/dists/bookworm/InRelease  Could not resolve 'mirror.invalid'"
		exit 100
	fi
	suite=$(sed -n 's/^Suites: //p' "$srcs")
	case " $* " in
	*Acquire::Check-Valid-Until=false*) ;;
	*) if [ -e "$ctl/expired" ]; then
		echo "E: Release file for http://mirror.invalid/debian/dists/$suite/InRelease is expired (invalid since 23d 21h 25min 51s). Updates for this repository will not be applied."
		exit 100
	fi ;;
	esac
	if [ -e "$ctl/packages" ]; then
		cp "$ctl/packages" "$lists/mirror.invalid_debian_dists_${suite}_main_binary-amd64_Packages"
	else
		: > "$lists/mirror.invalid_debian_dists_${suite}_main_binary-amd64_Packages"
	fi
	echo "Get:1 fake"
	exit 0 ;;
*" download "*)
	if [ "$last" = "$(cat "$ctl/spec")" ]; then
		cp "$(cat "$ctl/deb")" "./$(cat "$ctl/debname")"
		echo "Get:1 fake"
		exit 0
	fi
	echo "E: Version '${last#*=}' for '${last%%=*}' was not found" >&2
	exit 100 ;;
esac
echo "unexpected call" >&2
exit 1
`

func newFakeApt(t *testing.T) *fakeApt {
	t.Helper()
	ctl := t.TempDir()
	p := filepath.Join(ctl, "apt-get")
	require.NoError(t, os.WriteFile(p, []byte(strings.ReplaceAll(fakeAptScript, "%CTL%", ctl)), 0o755))
	return &fakeApt{path: p, ctl: ctl}
}

func (a *fakeApt) serve(t *testing.T, spec, deb string) {
	pkg, ver, _ := strings.Cut(spec, "=")
	require.NoError(t, os.WriteFile(filepath.Join(a.ctl, "spec"), []byte(spec), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(a.ctl, "deb"), []byte(deb), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(a.ctl, "debname"), []byte(pkg+"_"+ver+"_amd64.deb"), 0o644))
}

// calls returns the apt-get subcommands run so far ("update", "download").
func (a *fakeApt) calls(t *testing.T) []string {
	data, err := os.ReadFile(filepath.Join(a.ctl, "log"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		for i, w := range f {
			if w == "update" || w == "download" {
				out = append(out, strings.Join(f[i:], " "))
			}
		}
	}
	return out
}

func (a *fakeApt) rawLog(t *testing.T) string {
	data, _ := os.ReadFile(filepath.Join(a.ctl, "log"))
	return string(data)
}

// buildDeb builds a .deb with dpkg-deb holding files (path -> content).
func buildDeb(t *testing.T, pkg, version string, files map[string][]byte) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skipf("dpkg-deb not installed: %v", err)
	}
	root := t.TempDir()
	ctl := "Package: " + pkg + "\nVersion: " + version + "\nArchitecture: amd64\nMaintainer: Test <test@example>\nDescription: test kernel\n"
	files["DEBIAN/control"] = []byte(ctl)
	for name, data := range files {
		p := filepath.Join(root, "tree", name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}
	out := filepath.Join(root, "out.deb")
	cmd := exec.Command("dpkg-deb", "-Zgzip", "--root-owner-group", "--build", filepath.Join(root, "tree"), out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	return out
}

type debFixture struct {
	kernel Kernel
	deb    string
	elf    []byte
	bz     []byte
}

func newDebFixture(t *testing.T) debFixture {
	const pkg, ver = "linux-image-" + testRelease + "-amd64", "6.9.9-1"
	elfBytes := buildELF(true, 100_000)
	bz := buildBzImage(withSize(lz4Legacy(t, elfBytes, 1<<20), len(elfBytes)), 0x020f)
	deb := buildDeb(t, pkg, ver, map[string][]byte{
		"boot/vmlinuz-" + testRelease:                         bz,
		"boot/config-" + testRelease:                          []byte("CONFIG_PVH=y\nCONFIG_NET_NS=y\n"),
		"boot/System.map-" + testRelease:                      []byte("ffffffff81000000 T _text\n"),
		"usr/lib/modules/" + testRelease + "/kernel/x.ko":     []byte("module"),
		"usr/share/doc/linux-image-" + testRelease + "/x.txt": []byte("doc"),
	})
	sum, _, err := sha256File(deb)
	require.NoError(t, err)
	return debFixture{
		kernel: Kernel{
			Name: "test-kernel", Version: "6.9.9", Source: SourceDebian, File: "kernels/test-kernel.toml",
			Debian: &Debian{Suite: "bookworm-security", Package: pkg, Version: ver, SHA256: sum},
		},
		deb: deb, elf: elfBytes, bz: bz,
	}
}

func (fx debFixture) spec() string { return fx.kernel.Debian.Package + "=" + fx.kernel.Debian.Version }

func findDebs(t *testing.T, dir string) []string {
	var debs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".deb") {
			debs = append(debs, p)
		}
		return nil
	})
	return debs
}

func TestFetchDebianWithFakeApt(t *testing.T) {
	ctx := context.Background()
	fx := newDebFixture(t)
	apt := newFakeApt(t)
	apt.serve(t, fx.spec(), fx.deb)
	cache := t.TempDir()
	var progress bytes.Buffer
	f := &Fetcher{CacheDir: cache, Progress: &progress, AptGet: apt.path, SourcesFiles: []string{"testdata/sources/debian.sources"}}

	im, err := f.Fetch(ctx, fx.kernel)
	require.NoError(t, err, progress.String())
	assert.Equal(t, []string{"update", "download " + fx.spec()}, apt.calls(t))
	assert.False(t, im.CacheHit)
	assert.Equal(t, testRelease, im.Release)
	assert.Equal(t, "lz4", im.Compression)
	assert.True(t, im.PVH)
	assert.Equal(t, filepath.Join(cache, "kernels", "test-kernel-"+fx.kernel.Debian.SHA256[:12]), im.Dir)
	assert.Equal(t, filepath.Join(im.Dir, "vmlinuz-"+testRelease), im.BzImage)
	assert.Equal(t, sha256Bytes(fx.bz), im.SHA256)
	got, err := os.ReadFile(im.Vmlinux)
	require.NoError(t, err)
	assert.Equal(t, fx.elf, got)
	v, err := ConfigHas(im.Config, "CONFIG_PVH")
	require.NoError(t, err)
	assert.Equal(t, "y", v)
	ents, err := os.ReadDir(im.Dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"config-" + testRelease, "manifest.json", "vmlinux", "vmlinuz-" + testRelease}, names,
		"only the image, config, vmlinux and manifest are kept")
	assert.Empty(t, findDebs(t, cache), "the .deb is not kept")
	for _, want := range []string{"apt-get update for bookworm-security from http://security-mirror.invalid/debian-security",
		"fetching " + fx.spec() + " from bookworm-security", "verified sha256 " + fx.kernel.Debian.SHA256, "vmlinux: lz4 payload"} {
		assert.Contains(t, progress.String(), want)
	}

	// The private APT configuration: own sources from the synthetic file,
	// every state and configuration directory private, no regex fallback.
	aptDir := filepath.Join(cache, "apt", "bookworm-security")
	src, err := os.ReadFile(filepath.Join(aptDir, "coldstart.sources"))
	require.NoError(t, err)
	assert.Contains(t, string(src), "URIs: http://security-mirror.invalid/debian-security\nSuites: bookworm-security\n")
	log := apt.rawLog(t)
	for _, opt := range []string{"Dir::Etc::SourceList=" + aptDir, "Dir::Etc::SourceParts=" + aptDir, "Dir::Etc::Preferences=" + aptDir,
		"Dir::Etc::PreferencesParts=" + aptDir, "Dir::State::Lists=" + aptDir, "Dir::State::status=" + aptDir,
		"Dir::Cache=" + aptDir, "Dir::Cache::archives=" + aptDir, "APT::Cmd::Pattern-Only=true"} {
		assert.Contains(t, log, opt)
	}
	assert.Contains(t, log, "APT_CONFIG="+filepath.Join(aptDir, "apt.conf")+" ")
	conf, err := os.ReadFile(filepath.Join(aptDir, "apt.conf"))
	require.NoError(t, err)
	assert.Contains(t, string(conf), `Dir::Etc::parts "`+filepath.Join(aptDir, "apt.conf.d")+`";`)
	assert.Contains(t, string(conf), `Dir::Etc::main "`+filepath.Join(aptDir, "apt.conf.d", "none")+`";`)

	// Warm: served from the cache; apt-get is not even runnable.
	warm := *f
	warm.AptGet = "/nonexistent/apt-get"
	start := time.Now()
	im2, err := warm.Fetch(ctx, fx.kernel)
	require.NoError(t, err)
	assert.True(t, im2.CacheHit)
	assert.Less(t, time.Since(start), time.Second)
	im2.CacheHit = false
	assert.Equal(t, im, im2)

	// Tampering with the cached image is detected and repaired by fetching
	// again (the lists are fresh: no update).
	require.NoError(t, os.WriteFile(im.BzImage, []byte("tampered"), 0o644))
	progress.Reset()
	im3, err := f.Fetch(ctx, fx.kernel)
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "failed verification")
	assert.False(t, im3.CacheHit)
	assert.Equal(t, []string{"update", "download " + fx.spec(), "download " + fx.spec()}, apt.calls(t))
	got, err = os.ReadFile(im3.BzImage)
	require.NoError(t, err)
	assert.Equal(t, fx.bz, got)

	// Tampering is detected even when repair is impossible.
	require.NoError(t, os.WriteFile(im.Vmlinux, []byte("tampered"), 0o644))
	progress.Reset()
	_, err = warm.Fetch(ctx, fx.kernel)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrArchiveUnavailable)
	assert.Contains(t, progress.String(), "vmlinux: sha256")
	assert.Contains(t, progress.String(), "failed verification")

	// Stale lists are refreshed.
	old := time.Now().Add(-25 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(aptDir, "updated"), old, old))
	progress.Reset()
	_, err = f.Fetch(ctx, fx.kernel)
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "package lists are 25h0m0s old")
}

func TestFetchDebianFailures(t *testing.T) {
	ctx := context.Background()
	fx := newDebFixture(t)
	sources := []string{"testdata/sources/debian.sources"}

	t.Run("checksum mismatch", func(t *testing.T) {
		apt := newFakeApt(t)
		apt.serve(t, fx.spec(), fx.deb)
		cache := t.TempDir()
		k := fx.kernel
		d := *k.Debian
		d.SHA256 = strings.Repeat("0", 64)
		k.Debian = &d
		_, err := (&Fetcher{CacheDir: cache, AptGet: apt.path, SourcesFiles: sources}).Fetch(ctx, k)
		require.ErrorIs(t, err, ErrChecksumMismatch)
		assert.Contains(t, err.Error(), fx.kernel.Debian.SHA256, "the actual hash")
		assert.Contains(t, err.Error(), d.SHA256, "the pinned hash")
		assert.Contains(t, err.Error(), "kernels/test-kernel.toml")
		assert.Contains(t, err.Error(), "update debian.sha256")
		assert.Empty(t, findDebs(t, cache), "the bad download is deleted")
		_, err = os.Stat(filepath.Join(cache, "kernels", "test-kernel-000000000000", manifestName))
		assert.ErrorIs(t, err, os.ErrNotExist)
	})

	t.Run("version not found refreshes the lists once", func(t *testing.T) {
		apt := newFakeApt(t)
		apt.serve(t, fx.spec(), fx.deb)
		f := &Fetcher{CacheDir: t.TempDir(), AptGet: apt.path, SourcesFiles: sources}
		_, err := f.Fetch(ctx, fx.kernel) // lists now fresh
		require.NoError(t, err)
		k := fx.kernel
		d := *k.Debian
		d.Version = "6.9.9-99"
		k.Debian = &d
		_, err = f.Fetch(ctx, k)
		require.ErrorIs(t, err, ErrPackageNotFound)
		assert.Contains(t, err.Error(), "Version '6.9.9-99'")
		assert.Contains(t, err.Error(), "is no longer served by bookworm-security")
		assert.Equal(t, []string{"update", "download " + fx.spec(),
			"download " + d.Package + "=6.9.9-99", "update", "download " + d.Package + "=6.9.9-99"}, apt.calls(t))
	})

	t.Run("archive unreachable", func(t *testing.T) {
		apt := newFakeApt(t)
		apt.serve(t, fx.spec(), fx.deb)
		require.NoError(t, os.WriteFile(filepath.Join(apt.ctl, "fail-update"), nil, 0o644))
		_, err := (&Fetcher{CacheDir: t.TempDir(), AptGet: apt.path, SourcesFiles: sources}).Fetch(ctx, fx.kernel)
		require.ErrorIs(t, err, ErrArchiveUnavailable)
		assert.Contains(t, err.Error(), "Could not resolve")
	})

	t.Run("no Debian mirror in the sources", func(t *testing.T) {
		apt := newFakeApt(t)
		_, err := (&Fetcher{CacheDir: t.TempDir(), AptGet: apt.path, SourcesFiles: []string{"testdata/sources/third-party.sources"}}).Fetch(ctx, fx.kernel)
		require.ErrorIs(t, err, ErrNoMirror)
		assert.Contains(t, err.Error(), "testdata/sources/third-party.sources")
		assert.Empty(t, apt.calls(t))
	})

	t.Run("meta package without an image", func(t *testing.T) {
		const pkg, ver = "linux-image-amd64", "7.2.13-1"
		deb := buildDeb(t, pkg, ver, map[string][]byte{"usr/share/doc/linux-image-amd64/README": []byte("meta")})
		sum, _, _ := sha256File(deb)
		apt := newFakeApt(t)
		apt.serve(t, pkg+"="+ver, deb)
		k := Kernel{Name: "sid", Version: "7.2.13", Source: SourceDebian, Debian: &Debian{Suite: "sid", Package: pkg, Version: ver, SHA256: sum}}
		_, err := (&Fetcher{CacheDir: t.TempDir(), AptGet: apt.path, SourcesFiles: sources}).Fetch(ctx, k)
		require.ErrorIs(t, err, ErrNoImageInPackage)
		assert.Contains(t, err.Error(), "pin the linux-binary-* package")
	})

	t.Run("sid-style image under usr/lib/modules", func(t *testing.T) {
		const pkg, ver, rel = "linux-binary-7.2.13-amd64", "7.2.13-1", "7.2.13-amd64"
		deb := buildDeb(t, pkg, ver, map[string][]byte{"usr/lib/modules/" + rel + "/vmlinuz": fx.bz})
		sum, _, _ := sha256File(deb)
		apt := newFakeApt(t)
		apt.serve(t, pkg+"="+ver, deb)
		k := Kernel{Name: "sid", Version: "7.2.13", Source: SourceDebian, Debian: &Debian{Suite: "sid", Package: pkg, Version: ver, SHA256: sum}}
		im, err := (&Fetcher{CacheDir: t.TempDir(), AptGet: apt.path, SourcesFiles: sources}).Fetch(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, rel, im.Release)
		assert.Equal(t, "vmlinuz-"+rel, filepath.Base(im.BzImage))
		assert.Empty(t, im.Config)
		assert.True(t, im.PVH)
	})

	t.Run("invalid kernel", func(t *testing.T) {
		_, err := (&Fetcher{CacheDir: t.TempDir()}).Fetch(ctx, Kernel{Name: "x", Version: "1", Source: "debian"})
		assert.ErrorIs(t, err, ErrInvalidKernelFile)
	})
}

func TestFetchFileSource(t *testing.T) {
	dir := t.TempDir()
	elfBytes := buildELF(true, 10_000)
	bz := buildBzImage(withSize(lz4Legacy(t, elfBytes, 1<<20), len(elfBytes)), 0x020f)
	p := filepath.Join(dir, "bzImage")
	require.NoError(t, os.WriteFile(p, bz, 0o644))
	f := &Fetcher{CacheDir: filepath.Join(dir, "cache")}
	k := Kernel{Name: "own", Version: "6.9.9", Source: SourceFile, Local: &Local{Path: p, SHA256: sha256Bytes(bz)}}
	im, err := f.Fetch(context.Background(), k)
	require.NoError(t, err)
	assert.Equal(t, "own", im.Name)
	assert.Equal(t, p, im.BzImage)
	assert.NotEmpty(t, im.Vmlinux)
	assert.Equal(t, filepath.Join(dir, "cache", "kernels", "own-"+sha256Bytes(bz)[:12]), im.Dir)

	require.NoError(t, os.WriteFile(p, append(bz, 0), 0o644))
	_, err = f.Fetch(context.Background(), k)
	assert.ErrorIs(t, err, ErrChecksumMismatch)
}

func TestExtractTarSafety(t *testing.T) {
	type member struct {
		name     string
		typ      byte
		linkname string
		body     string
	}
	build := func(ms []member) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, m := range ms {
			h := &tar.Header{Name: m.name, Typeflag: m.typ, Linkname: m.linkname, Mode: 0o644, Size: int64(len(m.body))}
			if m.typ != tar.TypeReg {
				h.Size = 0
			}
			require.NoError(t, tw.WriteHeader(h))
			if m.typ == tar.TypeReg {
				tw.Write([]byte(m.body))
			}
		}
		require.NoError(t, tw.Close())
		return b.Bytes()
	}
	tests := []struct {
		name    string
		members []member
		want    []string // files written, or
		wantErr string
	}{
		{"regular", []member{{"./boot/", tar.TypeDir, "", ""}, {"./boot/vmlinuz-6.1.0-1-amd64", tar.TypeReg, "", "k"}, {"./boot/config-6.1.0-1-amd64", tar.TypeReg, "", "c"}, {"./boot/System.map-6.1.0-1-amd64", tar.TypeReg, "", "m"}},
			[]string{"config-6.1.0-1-amd64", "vmlinuz-6.1.0-1-amd64"}, ""},
		{"dot-dot paths are ignored", []member{{"./boot/../../etc/vmlinuz-x", tar.TypeReg, "", "k"}, {"../boot/vmlinuz-x", tar.TypeReg, "", "k"}, {"/boot/vmlinuz-x", tar.TypeReg, "", "k"}},
			nil, ""},
		{"symlink image is refused", []member{{"./boot/vmlinuz-6.1", tar.TypeSymlink, "/etc/shadow", ""}}, nil, "not a regular file"},
		{"hard link image is refused", []member{{"./boot/config-6.1", tar.TypeLink, "../../etc/passwd", ""}}, nil, "not a regular file"},
		{"strange release is refused", []member{{"./boot/vmlinuz-..", tar.TypeReg, "", "k"}}, nil, "unexpected characters"},
		{"two releases", []member{{"./boot/vmlinuz-a", tar.TypeReg, "", "k"}, {"./boot/vmlinuz-b", tar.TypeReg, "", "k"}}, nil, "two releases"},
		{"sid layout", []member{{"./usr/lib/modules/7.2-amd64/vmlinuz", tar.TypeReg, "", "k"}, {"./usr/lib/modules/7.2-amd64/kernel/x/vmlinuz", tar.TypeReg, "", "no"}},
			[]string{"vmlinuz-7.2-amd64"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := &manifest{Files: map[string]string{}}
			err := (&Fetcher{}).extractTar(bytes.NewReader(build(tc.members)), dir, m)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			var got []string
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				got = append(got, e.Name())
			}
			assert.Equal(t, tc.want, got)
			for _, name := range got {
				sum, _, _ := sha256File(filepath.Join(dir, name))
				assert.Equal(t, sum, m.Files[name])
			}
		})
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("COLDSTART_CACHE", "/x/cs")
	t.Setenv("XDG_CACHE_HOME", "/x/xdg")
	t.Setenv("HOME", "/x/home")
	d, err := DefaultCacheDir()
	require.NoError(t, err)
	assert.Equal(t, "/x/cs", d)
	t.Setenv("COLDSTART_CACHE", "")
	d, _ = DefaultCacheDir()
	assert.Equal(t, "/x/xdg/coldstart", d)
	t.Setenv("XDG_CACHE_HOME", "")
	d, _ = DefaultCacheDir()
	assert.Equal(t, "/x/home/.cache/coldstart", d)
}

func TestWriteAtomicLeavesNoPartialFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, atomicfile.WriteFile(p, []byte("good"), 0o644))
	err := atomicfile.Write(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("half"))
		return errors.New("crash")
	})
	require.Error(t, err)
	got, _ := os.ReadFile(p)
	assert.Equal(t, "good", string(got), "the old file is untouched")
	ents, _ := os.ReadDir(dir)
	assert.Len(t, ents, 1, "no temporary file left behind")
}
