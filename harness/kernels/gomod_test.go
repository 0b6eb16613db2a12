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

// fakeGo is a stand-in go command: "go mod download -json M@V" unpacks
// nothing, it copies $ctl/vmlinuz into a read-only module directory under
// $GOMODCACHE, as the real one does, and prints the JSON.
const fakeGoScript = `#!/bin/sh
ctl=%CTL%
echo "GOMODCACHE=$GOMODCACHE GOFLAGS=$GOFLAGS $*" >> "$ctl/log"
spec=$4
mod=${spec%@*}; ver=${spec#*@}
[ "$ver" = latest ] && ver=$(cat "$ctl/latest")
dir="$GOMODCACHE/$mod@$ver"
mkdir -p "$dir" "$GOMODCACHE/cache/download/$mod/@v"
cp "$ctl/vmlinuz" "$dir/vmlinuz"
chmod 0444 "$dir/vmlinuz"; chmod 0555 "$dir"
echo zip > "$GOMODCACHE/cache/download/$mod/@v/$ver.zip"
printf '{"Path":"%s","Version":"%s","Dir":"%s","Zip":"%s","Sum":"h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}\n' "$mod" "$ver" "$dir" "$GOMODCACHE/cache/download/$mod/@v/$ver.zip"
`

func TestFetchGoModWithFakeGo(t *testing.T) {
	ctx := context.Background()
	ctl := t.TempDir()
	goBin := filepath.Join(ctl, "go")
	require.NoError(t, os.WriteFile(goBin, []byte(strings.ReplaceAll(fakeGoScript, "%CTL%", ctl)), 0o755))
	elf := buildELF(true, 5000)
	blob := ikconfigBlob(t, "CONFIG_NET_NS=y\n")
	copy(elf[len(elf)-len(blob)-100:], blob)
	bz := buildBzImage(withSize(lz4Legacy(t, elf, 1<<20), len(elf)), 0x020f)
	require.NoError(t, os.WriteFile(filepath.Join(ctl, "vmlinuz"), bz, 0o644))
	k := Kernel{Name: "gk", Version: "7.1.2", Source: SourceGoMod, GoMod: &GoMod{
		Module: "example.com/kernel.amd64", Version: "v0.0.0-20260705070735-de680abf072b", SHA256: sha256Bytes(bz)}}
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache, Go: goBin}

	im, err := f.Fetch(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, testRelease, im.Release)
	assert.NotEmpty(t, im.Vmlinux)
	missing, err := im.MissingOptions("CONFIG_NET_NS,CONFIG_USER_NS")
	require.NoError(t, err, "the config comes from the image's IKCONFIG")
	assert.Equal(t, []string{"CONFIG_USER_NS"}, missing)
	log := string(readOr(t, filepath.Join(ctl, "log")))
	assert.Contains(t, log, "GOMODCACHE="+filepath.Join(cache, "gomod"))
	assert.Contains(t, log, "mod download -json example.com/kernel.amd64@v0.0.0-20260705070735-de680abf072b")
	assert.NoDirExists(t, filepath.Join(cache, "gomod", "example.com", "kernel.amd64@"+k.GoMod.Version), "the read-only module directory is removed once copied")

	again, err := f.Fetch(ctx, k)
	require.NoError(t, err)
	assert.True(t, again.CacheHit)

	t.Run("checksum mismatch is rejected and the module deleted", func(t *testing.T) {
		bad := k
		g := *k.GoMod
		g.SHA256 = strings.Repeat("0", 64)
		bad.GoMod = &g
		_, err := (&Fetcher{CacheDir: t.TempDir(), Go: goBin}).Fetch(ctx, bad)
		require.ErrorIs(t, err, ErrChecksumMismatch)
		assert.Contains(t, err.Error(), "the file has "+sha256Bytes(bz))
		assert.Contains(t, err.Error(), "pins "+strings.Repeat("0", 64))
		assert.Contains(t, err.Error(), "deleted")
	})
	t.Run("module hash mismatch", func(t *testing.T) {
		bad := k
		g := *k.GoMod
		g.Sum = "h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="
		bad.GoMod = &g
		_, err := (&Fetcher{CacheDir: t.TempDir(), Go: goBin}).Fetch(ctx, bad)
		require.ErrorIs(t, err, ErrChecksumMismatch)
		assert.Contains(t, err.Error(), "h1:AAAA")
	})
	t.Run("update re-pins to latest", func(t *testing.T) {
		require.NoError(t, os.WriteFile(filepath.Join(ctl, "latest"), []byte("v0.0.0-20270101000000-0123456789ab"), 0o644))
		r, err := f.Update(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, "v0.0.0-20270101000000-0123456789ab", r.Changes["gomod.version"])
		assert.Equal(t, "6.9.9", r.Changes["version"])
		_, hasSum := r.Changes["gomod.sha256"]
		assert.False(t, hasSum, "same image, same sha256")
	})
}

func TestLoadNewSources(t *testing.T) {
	ks, err := Load("../../kernels")
	require.NoError(t, err)
	seen := map[string]bool{}
	versions := map[string]bool{}
	for _, k := range ks {
		seen[k.Source] = true
		versions[k.Version] = true
	}
	assert.True(t, seen[SourceDebian] && seen[SourceGoMod] && seen[SourceBuild], "the default matrix uses every fetching source")
	assert.GreaterOrEqual(t, len(versions), 6, "at least six distinct kernel versions")
	sid, err := Lookup(ks, "debian-7.2-cloud")
	require.NoError(t, err)
	require.NotNil(t, sid.Debian.Config)
	assert.Equal(t, "7.2.13-1", sid.Debian.Config.Version)
	tiny, err := Lookup(ks, "tiny-6.1")
	require.NoError(t, err)
	assert.FileExists(t, tiny.FragmentPath())

	bad := map[string][2]string{
		"gomod query":     {"name = \"g\"\nversion = \"1\"\nsource = \"gomod\"\n[gomod]\nmodule = \"example.com/k\"\nversion = \"latest\"\nsha256 = \"" + strings.Repeat("a", 64) + "\"\n", "not an exact module version"},
		"gomod escape":    {"name = \"g\"\nversion = \"1\"\nsource = \"gomod\"\n[gomod]\nmodule = \"example.com/k\"\nversion = \"v1.0.0\"\npath = \"../x\"\nsha256 = \"" + strings.Repeat("a", 64) + "\"\n", "clean relative path"},
		"build no tree":   {"name = \"b\"\nversion = \"1\"\nsource = \"build\"\n[build]\nconfig = \"x\"\n", "no source tree"},
		"build ref alone": {"name = \"b\"\nversion = \"1\"\nsource = \"build\"\n[build]\nref = \"v4.19\"\n[build.debian]\nsuite = \"bookworm\"\npackage = \"linux-source-6.1\"\nversion = \"6.1.1-1\"\nsha256 = \"" + strings.Repeat("a", 64) + "\"\n", "needs tree"},
		"build image pkg": {"name = \"b\"\nversion = \"1\"\nsource = \"build\"\n[build.debian]\nsuite = \"bookworm\"\npackage = \"linux-image-6.1.0-1-amd64\"\nversion = \"6.1.1-1\"\nsha256 = \"" + strings.Repeat("a", 64) + "\"\n", "linux-source-X.Y"},
		"two sections":    {goodDebian + "[gomod]\nmodule = \"x\"\n", `a [gomod] section is given`},
		"config sha":      {goodDebian + "[debian.config]\npackage = \"linux-base-7.2\"\nsha256 = \"x\"\n", "debian.config.sha256"},
	}
	for name, tc := range bad {
		_, err := LoadFile(writeTemp(t, "k.toml", tc[0]))
		require.Error(t, err, name)
		assert.ErrorIs(t, err, ErrInvalidKernelFile, name)
		assert.Contains(t, err.Error(), tc[1], name)
	}
}
