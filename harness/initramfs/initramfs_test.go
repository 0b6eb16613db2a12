package initramfs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/u-root/u-root/pkg/cpio"
)

func writeExe(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o755))
	return p
}

// archiveContents maps each record's name to its content (a symlink's
// content is its target).
func archiveContents(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(f))
	require.NoError(t, err)
	m := map[string]string{}
	for _, r := range recs {
		b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.Info.FileSize)))
		require.NoError(t, err)
		m[r.Name] = string(b)
	}
	return m
}

func TestBuildIsContentAddressed(t *testing.T) {
	in, cache := t.TempDir(), t.TempDir()
	o := Options{
		Init:     writeExe(t, in, "init", "#!/bin/true\ninit v1\n"),
		Agent:    writeExe(t, in, "csagent", "#!/bin/true\nagent v1\n"),
		Files:    []File{{Src: writeExe(t, in, "extra", "data\n"), Dst: "etc/extra"}},
		CacheDir: cache,
	}
	ctx := context.Background()
	first, err := Build(ctx, o)
	require.NoError(t, err)
	assert.False(t, first.Hit)

	recs := archiveContents(t, first.Path)
	for _, want := range []string{"init", "bin/uinit", InitPath, AgentPath, "etc/extra", "dev/console", "tmp"} {
		assert.Contains(t, recs, want)
	}
	assert.Equal(t, "bbin/init", recs["init"], "/init links to u-root's init")
	assert.Equal(t, "../bbin/csagent", recs["bin/uinit"], "uinit is the agent")

	again, err := Build(ctx, o)
	require.NoError(t, err)
	assert.True(t, again.Hit)
	assert.Equal(t, first.Path, again.Path)

	// Any input change makes a new archive.
	require.NoError(t, os.WriteFile(o.Agent, []byte("#!/bin/true\nagent v2\n"), 0o755))
	changed, err := Build(ctx, o)
	require.NoError(t, err)
	assert.False(t, changed.Hit)
	assert.NotEqual(t, first.Key, changed.Key)

	// No temporary files are left in the cache.
	ents, err := os.ReadDir(cache)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	assert.Len(t, names, 2, "cache holds exactly the two archives: %v", names)
}

func TestBuildErrors(t *testing.T) {
	in := t.TempDir()
	exe := writeExe(t, in, "x", "x")
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no agent", Options{Init: exe, CacheDir: in}, "both the init and the agent"},
		{"no cache", Options{Init: exe, Agent: exe}, "no cache directory"},
		{"missing input", Options{Init: exe, Agent: filepath.Join(in, "missing"), CacheDir: in}, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(context.Background(), tt.o)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestModuleRoot(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	root, err := ModuleRoot(wd)
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(root, "go.mod"))
	_, err = ModuleRoot(t.TempDir())
	assert.ErrorContains(t, err, "COLDSTART_SRC")
}

// BenchmarkWarmPath measures what a matrix run pays when nothing changed:
// the go build of both guest binaries (from the build cache) plus the
// archive cache lookup. Target: well under a second.
func BenchmarkWarmPath(b *testing.B) {
	wd, _ := os.Getwd()
	root, err := ModuleRoot(wd)
	if err != nil {
		b.Fatal(err)
	}
	out, cache := b.TempDir(), b.TempDir()
	ctx := context.Background()
	cold := time.Now()
	ib, ab, err := Binaries(ctx, root, out)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Build(ctx, Options{Init: ib, Agent: ab, CacheDir: cache}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(cold).Milliseconds()), "first-ms")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ib, ab, err := Binaries(ctx, root, out)
		if err != nil {
			b.Fatal(err)
		}
		r, err := Build(ctx, Options{Init: ib, Agent: ab, CacheDir: cache})
		if err != nil || !r.Hit {
			b.Fatalf("warm build missed the cache: %v", err)
		}
	}
}
