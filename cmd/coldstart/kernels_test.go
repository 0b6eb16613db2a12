package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kernelsTree makes a coldstart source tree holding only kernel files, and
// an empty cache, for the kernels subcommands.
func kernelsTree(t *testing.T, files map[string]string) {
	t.Helper()
	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "go.mod"), []byte("module coldstart\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "kernels", "configs"), 0o755))
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(src, "kernels", name), []byte(content), 0o644))
	}
	t.Setenv("COLDSTART_SRC", src)
	t.Setenv("COLDSTART_CACHE", t.TempDir())
	t.Setenv("CI", "true")
}

const testKernelFile = `name = "gk"
version = "7.1.2"
source = "gomod"

[gomod]
module = "github.com/gokrazy/kernel.amd64"
version = "v0.0.0-20260705070735-de680abf072b"
sha256 = "276e5c6eefee7d955d3b6808d214b535561ce426789e3b4f53bd899474612525"
`

func TestKernelsListColumns(t *testing.T) {
	kernelsTree(t, map[string]string{"gk.toml": testKernelFile})
	stdout, stderr, code := runCLI(t, "kernels", "list")
	require.Equal(t, exitOK, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, []string{"NAME", "VERSION", "SOURCE", "DEFAULT", "CACHED", "SIZE", "PIN"}, strings.Fields(lines[0]))
	f := strings.Fields(lines[1])
	assert.Equal(t, []string{"gk", "7.1.2", "gomod", "yes", "no", "-"}, f[:6])
	assert.Contains(t, lines[1], "github.com/gokrazy/kernel.amd64@v0.0.0-20260705070735-de680abf072b")
}

func TestProjectKernelsList(t *testing.T) {
	t.Setenv("COLDSTART_CACHE", t.TempDir())
	stdout, stderr, code := runCLI(t, "kernels", "list")
	require.Equal(t, exitOK, code, stderr)
	for _, name := range []string{"debian-5.10-cloud", "debian-6.1-cloud", "debian-6.1-bookworm-cloud", "gokrazy-6.8",
		"debian-6.12-cloud", "gokrazy-7.1", "debian-7.2-cloud", "tiny-6.1"} {
		assert.Contains(t, stdout, name+" ")
	}
}

func TestKernelsUsageErrors(t *testing.T) {
	kernelsTree(t, map[string]string{"gk.toml": testKernelFile})
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"kernels", "frob"}, `unknown kernels subcommand "frob"`},
		{[]string{"kernels", "fetch", "nope"}, `unknown kernel "nope": known kernels are gk`},
		{[]string{"kernels", "update"}, "needs kernel names"},
		{[]string{"kernels", "update", "nope"}, `unknown kernel "nope"`},
		{[]string{"kernels", "build"}, "--tree"},
		{[]string{"kernels", "list", "extra"}, "no arguments"},
		{[]string{"kernels", "check"}, "one image path"},
	}
	for _, tt := range tests {
		_, stderr, code := runCLI(t, tt.args...)
		assert.Equal(t, exitUsage, code, "%v: %s", tt.args, stderr)
		assert.Contains(t, stderr, tt.want, tt.args)
	}
}

func TestKernelsBuildReportsFragmentFailure(t *testing.T) {
	kernelsTree(t, nil)
	tree := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(tree, "Makefile"), nil, 0o644))
	frag := filepath.Join(t.TempDir(), "bad.config")
	require.NoError(t, os.WriteFile(frag, []byte("not a config line\n"), 0o644))
	_, stderr, code := runCLI(t, "kernels", "build", "--tree", tree, "--config", frag)
	assert.NotEqual(t, exitOK, code)
	assert.Contains(t, stderr, "not CONFIG_X=value")
}
