package kernels

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testFragment = `# a test fragment
CONFIG_64BIT=y
CONFIG_SMP=y   # the reason we build at all
CONFIG_SERIAL_8250_NR_UARTS=4
CONFIG_CMDLINE="console=ttyS0"
# CONFIG_MODULES is not set
CONFIG_PVH=y  # optional: added in 5.0
CONFIG_CGROUP_BPF=y # optional
`

func TestParseFragment(t *testing.T) {
	p := writeTemp(t, "frag.config", testFragment)
	fr, err := ParseFragment(p)
	require.NoError(t, err)
	assert.Equal(t, []FragmentOption{
		{Name: "CONFIG_64BIT", Value: "y", Line: 2},
		{Name: "CONFIG_SMP", Value: "y", Line: 3},
		{Name: "CONFIG_SERIAL_8250_NR_UARTS", Value: "4", Line: 4},
		{Name: "CONFIG_CMDLINE", Value: "console=ttyS0", Line: 5},
		{Name: "CONFIG_MODULES", Value: "n", Line: 6},
		{Name: "CONFIG_PVH", Value: "y", Optional: true, Line: 7},
		{Name: "CONFIG_CGROUP_BPF", Value: "y", Optional: true, Line: 8},
	}, fr.Options)
	lines := fr.kconfigLines()
	assert.Contains(t, lines, "\nCONFIG_SMP=y\n", "comments are stripped: Kconfig has no inline comments")
	assert.Contains(t, lines, "\nCONFIG_CMDLINE=\"console=ttyS0\"\n")
	assert.Contains(t, lines, "\n# CONFIG_MODULES is not set\n")
	assert.NotContains(t, lines, "optional")

	for name, bad := range map[string]string{
		"garbage":   "CONFIG_SMP=y\nSMP=y\n",
		"duplicate": "CONFIG_SMP=y\nCONFIG_SMP=n\n",
		"empty":     "# nothing\n",
	} {
		_, err := ParseFragment(writeTemp(t, "bad.config", bad))
		assert.Error(t, err, name)
	}
}

func TestProjectFragment(t *testing.T) {
	fr, err := ParseFragment("../../kernels/configs/coldstart.config")
	require.NoError(t, err)
	have := map[string]FragmentOption{}
	for _, o := range fr.Options {
		have[o.Name] = o
	}
	// What the harness cannot do without: see kernels/configs/coldstart.config.
	for _, o := range []string{"CONFIG_64BIT", "CONFIG_SMP", "CONFIG_TREE_RCU", "CONFIG_BLK_DEV_INITRD",
		"CONFIG_SERIAL_8250_CONSOLE", "CONFIG_NET_NS", "CONFIG_IPC_NS", "CONFIG_USER_NS", "CONFIG_POSIX_MQUEUE",
		"CONFIG_SECCOMP_FILTER", "CONFIG_IKCONFIG_PROC", "CONFIG_FUNCTION_GRAPH_TRACER"} {
		require.Contains(t, have, o)
		assert.Equal(t, "y", have[o].Value, o)
		assert.False(t, have[o].Optional, "%s must be required", o)
	}
	assert.Equal(t, "n", have["CONFIG_MODULES"].Value)
	assert.True(t, have["CONFIG_PVH"].Optional, "4.x trees have no CONFIG_PVH")
}

func TestCheckFragment(t *testing.T) {
	fr, err := ParseFragment(writeTemp(t, "frag.config", testFragment))
	require.NoError(t, err)
	cfg := Config{"CONFIG_64BIT": "y", "CONFIG_SMP": "y", "CONFIG_SERIAL_8250_NR_UARTS": "4",
		"CONFIG_CMDLINE": "console=ttyS0", "CONFIG_PVH": "y", "CONFIG_CGROUP_BPF": "y"}
	opt, err := CheckFragment(fr, cfg, "/b/.config")
	require.NoError(t, err)
	assert.Empty(t, opt)

	// SMP dropped (a dependency is off), a module subsystem turned on, a
	// different number, and an optional option the tree lacks.
	cfg["CONFIG_SMP"] = ""
	delete(cfg, "CONFIG_SMP")
	cfg["CONFIG_MODULES"] = "y"
	cfg["CONFIG_SERIAL_8250_NR_UARTS"] = "1"
	delete(cfg, "CONFIG_PVH")
	opt, err = CheckFragment(fr, cfg, "/b/.config")
	var fe *FragmentError
	require.ErrorAs(t, err, &fe)
	assert.ErrorIs(t, err, ErrFragment)
	var names []string
	for _, o := range fe.Missing {
		names = append(names, o.Name)
	}
	assert.Equal(t, []string{"CONFIG_SMP", "CONFIG_SERIAL_8250_NR_UARTS", "CONFIG_MODULES"}, names)
	msg := err.Error()
	for _, want := range []string{"3 option(s)", "CONFIG_SMP=y (line 3): got not set", "CONFIG_SERIAL_8250_NR_UARTS=4 (line 4): got 1",
		"CONFIG_MODULES=n (line 6): got y", "/b/.config", "# optional"} {
		assert.Contains(t, msg, want)
	}
	require.Len(t, opt, 1)
	assert.Equal(t, "CONFIG_PVH", opt[0].Name)
}

// fakeMake is a stand-in make for Build: tinyconfig writes a small .config,
// olddefconfig drops the options named in $ctl/drop (as Kconfig does with an
// option whose dependencies are off, or that the tree lacks), bzImage copies
// $ctl/bzImage into place. Every call is logged.
const fakeMakeScript = `#!/bin/sh
ctl=%CTL%
echo "$*" >> "$ctl/log"
for a in "$@"; do
	case "$a" in
	O=*) out=${a#O=} ;;
	esac
	last=$a
done
case "$last" in
tinyconfig)
	printf 'CONFIG_CC_OPTIMIZE_FOR_SIZE=y\n# CONFIG_SMP is not set\n' > "$out/.config" ;;
olddefconfig)
	if [ -e "$ctl/drop" ]; then
		grep -v -F -f "$ctl/drop" "$out/.config" > "$out/.config.new" || true
		mv "$out/.config.new" "$out/.config"
	fi
	echo "# configuration written to .config" ;;
bzImage)
	[ -e "$ctl/fail" ] && { echo "kernel/fork.c:1: error: boom"; exit 2; }
	mkdir -p "$out/arch/x86/boot"
	cp "$ctl/bzImage" "$out/arch/x86/boot/bzImage"
	echo "Kernel: arch/x86/boot/bzImage is ready  (#1)" ;;
*) echo "unexpected target $last" >&2; exit 1 ;;
esac
`

func newFakeMake(t *testing.T) (makePath, ctl string) {
	t.Helper()
	ctl = t.TempDir()
	makePath = filepath.Join(ctl, "make")
	require.NoError(t, os.WriteFile(makePath, []byte(strings.ReplaceAll(fakeMakeScript, "%CTL%", ctl)), 0o755))
	pvhELF := buildELF(true, 20_000)
	require.NoError(t, os.WriteFile(filepath.Join(ctl, "bzImage"), buildBzImage(withSize(lz4Legacy(t, pvhELF, 1<<20), len(pvhELF)), 0x020f), 0o644))
	return makePath, ctl
}

func TestBuildWithFakeMake(t *testing.T) {
	ctx := context.Background()
	makePath, ctl := newFakeMake(t)
	tree := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(tree, "Makefile"), []byte("# fake kernel tree\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\n"), 0o644))
	frag := writeTemp(t, "frag.config", testFragment)
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache, Make: makePath, Jobs: 3}

	t.Run("an option that does not survive olddefconfig is reported", func(t *testing.T) {
		require.NoError(t, os.WriteFile(filepath.Join(ctl, "drop"), []byte("CONFIG_SMP=y\nCONFIG_PVH=y\n"), 0o644))
		defer os.Remove(filepath.Join(ctl, "drop"))
		_, err := f.Build(ctx, BuildSpec{Name: "t", Tree: tree, Fragment: frag})
		var fe *FragmentError
		require.ErrorAs(t, err, &fe)
		require.Len(t, fe.Missing, 1, "the optional CONFIG_PVH is not an error")
		assert.Equal(t, "CONFIG_SMP", fe.Missing[0].Name)
		assert.Contains(t, err.Error(), "CONFIG_SMP=y (line 3): got not set")
		assert.NotContains(t, string(readOr(t, filepath.Join(ctl, "log"))), "bzImage", "no build after a failed check")
	})

	t.Run("success", func(t *testing.T) {
		var progress strings.Builder
		f.Progress = &progress
		im, err := f.Build(ctx, BuildSpec{Name: "t", Tree: tree, TreeID: "git:abc", Fragment: frag})
		require.NoError(t, err, progress.String())
		assert.Equal(t, testRelease, im.Release)
		assert.NotEmpty(t, im.Vmlinux, "PVH vmlinux derived from the built bzImage")
		c, err := im.KernelConfig()
		require.NoError(t, err)
		assert.Equal(t, "y", c["CONFIG_SMP"])
		assert.Empty(t, c.Missing("CONFIG_SMP,CONFIG_64BIT"))
		m, err := readManifest(im.Dir)
		require.NoError(t, err)
		logs := filepath.Join(m.BuildDir, "logs")
		for _, l := range []string{"tinyconfig.log", "olddefconfig.log", "bzImage.log"} {
			assert.FileExists(t, filepath.Join(logs, l))
		}
		log := string(readOr(t, filepath.Join(ctl, "log")))
		assert.Contains(t, log, "-C "+tree+" O="+m.BuildDir+" -j3 bzImage")
		assert.Contains(t, progress.String(), "make bzImage")

		// Same tree identity and fragment: served from the cache, make not run.
		before := log
		again, err := f.Build(ctx, BuildSpec{Name: "t", Tree: tree, TreeID: "git:abc", Fragment: frag})
		require.NoError(t, err)
		assert.True(t, again.CacheHit)
		assert.Equal(t, before, string(readOr(t, filepath.Join(ctl, "log"))))

		// Another fragment is another build directory.
		frag2 := writeTemp(t, "frag2.config", testFragment+"CONFIG_X=y # optional\n")
		require.NotEqual(t, buildKey(BuildSpec{TreeID: "git:abc"}, []byte(testFragment), ""), buildKey(BuildSpec{TreeID: "git:abc"}, readOr(t, frag2), ""))
	})

	t.Run("a failed make names its log", func(t *testing.T) {
		require.NoError(t, os.WriteFile(filepath.Join(ctl, "fail"), nil, 0o644))
		defer os.Remove(filepath.Join(ctl, "fail"))
		_, err := f.Build(ctx, BuildSpec{Name: "t", Tree: tree, Fragment: frag})
		require.True(t, errors.Is(err, ErrBuildFailed), "%v", err)
		assert.Contains(t, err.Error(), "bzImage.log")
		assert.Contains(t, err.Error(), "error: boom")
	})

	t.Run("an in-tree configured tree is refused", func(t *testing.T) {
		dirty := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dirty, "Makefile"), nil, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dirty, ".config"), nil, 0o644))
		_, err := f.Build(ctx, BuildSpec{Name: "t", Tree: dirty, Fragment: frag})
		assert.ErrorContains(t, err, "make mrproper")
	})
}

func readOr(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

func TestGitTreeExportsARef(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git not installed: %v", err)
	}
	repo := t.TempDir()
	gitCmd := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.email=t@example", "-c", "user.name=t"}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	gitCmd("init", "-q")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "Makefile"), []byte("v1\n"), 0o644))
	gitCmd("add", "Makefile")
	gitCmd("commit", "-q", "-m", "v1")
	gitCmd("tag", "v1")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "Makefile"), []byte("v2, uncommitted\n"), 0o644))

	f := &Fetcher{CacheDir: t.TempDir()}
	dir, id, err := f.gitTree(context.Background(), f.CacheDir, repo, "v1")
	require.NoError(t, err)
	assert.Equal(t, "git:"+gitCmd("rev-parse", "v1^{commit}"), id)
	assert.Equal(t, "v1\n", string(readOr(t, filepath.Join(dir, "Makefile"))), "the ref's content, not the working tree's")
	assert.Equal(t, "v2, uncommitted\n", string(readOr(t, filepath.Join(repo, "Makefile"))), "the repository is left alone")

	_, _, err = f.gitTree(context.Background(), f.CacheDir, repo, "no-such-ref")
	assert.ErrorContains(t, err, `git ref "no-such-ref"`)
}

// TestProjectFragmentOptionalNamesVersion: an option marked optional
// says which kernels lack it, so a reader of a 4.x build's warning knows
// whether it is expected.
func TestProjectFragmentOptionalNamesVersion(t *testing.T) {
	data := string(readOr(t, "../../kernels/configs/coldstart.config"))
	version := regexp.MustCompile(`\b[4-9]\.[0-9]+\b`)
	n := 0
	for i, line := range strings.Split(data, "\n") {
		if !strings.HasPrefix(line, "CONFIG_") || !strings.Contains(line, "# optional") {
			continue
		}
		n++
		_, comment, _ := strings.Cut(line, "# optional")
		if !strings.Contains(comment, "4.x") {
			assert.Regexp(t, version, comment, "line %d: %s: name the version that added (or removed) the option", i+1, line)
		}
	}
	assert.GreaterOrEqual(t, n, 5)
}
