package kernels

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChooseToolchain renders the plan for the last point release of each
// series from 4.5 to 7.2 (and the early releases the issue tried), with the
// tree facts those releases have, into one golden file.
func TestChooseToolchain(t *testing.T) {
	cases := []struct {
		facts   TreeFacts
		hostGCC int
	}{
		{TreeFacts{Version: "4.4.302", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "4.5.7"}, 12}, // before -fno-PIE and PLT32
		{TreeFacts{Version: "4.9", FnoPIE: false, PLT32: false}, 12},
		{TreeFacts{Version: "4.9.337", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "4.14.5", FnoPIE: true, PLT32: false}, 12},
		{TreeFacts{Version: "4.14.336", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "4.18.20", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "4.19-rc1", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "4.19.325", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "4.19.325", FnoPIE: true, PLT32: true}, 11}, // an older host gcc needs no -Wno-use-after-free
		{TreeFacts{Version: "5.4.302", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "5.9.16", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "5.10-rc1", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "5.10.223", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "6.1.192", FnoPIE: true, PLT32: true}, 12},
		{TreeFacts{Version: "7.2.13", FnoPIE: true, PLT32: true}, 12},
	}
	var b strings.Builder
	for _, c := range cases {
		p := ChooseToolchain(c.facts, c.hostGCC)
		fmt.Fprintf(&b, "# %+v, host gcc %d, key %q\n%s\n", c.facts, c.hostGCC, p.key(), p)
	}
	golden(t, "toolchain-plans.txt", b.String())
}

func TestToolchainTableCoversEveryVersion(t *testing.T) {
	// The rows are contiguous and ordered: each starts where the last ended.
	prev := ""
	for i, r := range toolchainTable {
		assert.Equal(t, prev, r.From, "row %d", i)
		prev = r.Before
		for _, p := range r.Toolchain.Packages {
			assert.Regexp(t, sha256RE, p.SHA256, p.Package)
			assert.NotEmpty(t, p.Version, p.Package)
		}
		if !r.Toolchain.System() {
			assert.Contains(t, r.Toolchain.ID, r.Toolchain.GCC)
			var names []string
			for _, p := range r.Toolchain.Packages {
				names = append(names, p.Package)
			}
			for _, want := range []string{r.Toolchain.GCC, "cpp-" + strings.TrimPrefix(r.Toolchain.GCC, "gcc-"), "libgcc-" + strings.TrimPrefix(r.Toolchain.GCC, "gcc-") + "-dev", "binutils-x86-64-linux-gnu", "libbinutils", "libctf0"} {
				assert.Contains(t, names, want, r.Toolchain.ID)
			}
		}
	}
	assert.Equal(t, "", prev, "the last row is open-ended")
}

func TestProbeTree(t *testing.T) {
	for _, tt := range []struct {
		name, makefile, relocs string
		want                   TreeFacts
	}{
		{"4.5", "VERSION = 4\nPATCHLEVEL = 5\nSUBLEVEL = 7\nEXTRAVERSION =\nNAME = Blurry Fish Butt\n",
			"case R_X86_64_PC32:\n", TreeFacts{Version: "4.5.7"}},
		{"4.19", "VERSION = 4\nPATCHLEVEL = 19\nSUBLEVEL = 325\nEXTRAVERSION =\nKBUILD_CFLAGS += $(call cc-option,-fno-PIE)\n",
			"case R_X86_64_PC32:\ncase R_X86_64_PLT32:\n", TreeFacts{Version: "4.19.325", FnoPIE: true, PLT32: true}},
		{"rc", "VERSION = 5\nPATCHLEVEL = 10\nSUBLEVEL = 0\nEXTRAVERSION = -rc1\n-fno-PIE\n", "R_X86_64_PLT32",
			TreeFacts{Version: "5.10-rc1", FnoPIE: true, PLT32: true}},
		{"no relocs.c (not x86)", "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\n", "",
			TreeFacts{Version: "6.1.192", PLT32: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tree := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(tree, "Makefile"), []byte(tt.makefile), 0o644))
			if tt.relocs != "" {
				require.NoError(t, os.MkdirAll(filepath.Join(tree, "arch", "x86", "tools"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(tree, "arch", "x86", "tools", "relocs.c"), []byte(tt.relocs), 0o644))
			}
			got, err := ProbeTree(tree)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	tree := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(tree, "Makefile"), []byte("all:\n"), 0o644))
	_, err := ProbeTree(tree)
	assert.ErrorContains(t, err, "no VERSION and PATCHLEVEL")
}

// TestPrepareToolchainWrappers checks the wrappers and make variables of
// a plan with flags on the system's compiler (no download).
func TestPrepareToolchainWrappers(t *testing.T) {
	out := t.TempDir()
	f := &Fetcher{CacheDir: t.TempDir()}
	p := ChooseToolchain(TreeFacts{Version: "4.9"}, 12) // before -fno-PIE and PLT32, with objtool
	p.Toolchain = Toolchain{}                           // the system's gcc: only the flags are tested here
	u, err := f.prepareToolchain(context.Background(), f.CacheDir, out, p)
	require.NoError(t, err)
	cc := string(readOr(t, u.ccPath))
	assert.Contains(t, cc, "exec gcc -fno-PIE \"$@\"")
	host := string(readOr(t, u.hostcc))
	assert.Contains(t, host, "exec gcc -Wno-use-after-free \"$@\"")
	assert.Equal(t, "# CONFIG_RELOCATABLE is not set\n# CONFIG_RANDOMIZE_BASE is not set\n", u.configLines())
	assert.Empty(t, u.makeVars, "the system's binutils: no AS/LD override")

	// A modern tree on the system's toolchain: no wrapper at all.
	u, err = f.prepareToolchain(context.Background(), f.CacheDir, t.TempDir(), ChooseToolchain(TreeFacts{Version: "6.1.192", FnoPIE: true, PLT32: true}, 12))
	require.NoError(t, err)
	assert.Empty(t, u.ccPath)
	assert.Empty(t, u.hostcc)
	assert.Empty(t, u.configLines())
}

// TestUnpackToolchainReal fetches bullseye's gcc-10 and binutils through
// the private APT state and compiles a file with them. It downloads 30 MB:
// make test-long only.
func TestUnpackToolchainReal(t *testing.T) {
	if os.Getenv("COLDSTART_LONG") == "" {
		t.Skip("downloads a toolchain (30 MB): set COLDSTART_LONG=1 (make test-long)")
	}
	cache, err := DefaultCacheDir()
	require.NoError(t, err)
	f := &Fetcher{CacheDir: cache, Progress: os.Stderr}
	out := t.TempDir()
	u, err := f.prepareToolchain(context.Background(), cache, out, ChooseToolchain(TreeFacts{Version: "4.19.325", FnoPIE: true, PLT32: true}, 12))
	require.NoError(t, err)
	src := filepath.Join(out, "t.c")
	require.NoError(t, os.WriteFile(src, []byte("int f(int x) { return x + 1; }\n"), 0o644))
	cmd := execCommand(u.ccPath, "-c", src, "-o", filepath.Join(out, "t.o"))
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	ver, err := execCommand(u.ccPath, "--version").Output()
	require.NoError(t, err)
	assert.Contains(t, string(ver), "10.2.1")
	as, err := execCommand(filepath.Join(out, "toolchain-bin", "as"), "--version").Output()
	require.NoError(t, err)
	assert.Contains(t, string(as), "2.35.2")
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
