package bundle

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Each testdata/*.json is a config.json; its .golden file holds the error
// Parse returns ("ok" when it is accepted). A mismatch writes a .got file.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			got := "ok"
			if _, err := Parse(data); err != nil {
				got = err.Error()
			}
			got += "\n"
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			if string(want) != got {
				os.WriteFile(strings.TrimSuffix(f, ".json")+".got", []byte(got), 0o644)
				t.Errorf("Parse(%s) mismatch (-want +got):\n-%s+%s", f, want, got)
			}
		})
	}
}

func TestFieldErrorUnwrap(t *testing.T) {
	_, err := Parse([]byte(`{"ociVersion":"1.0.0","root":{"path":"r"},"process":{"cwd":"/","args":["a"],"user":{"uid":0,"gid":0}},"linux":{"resources":{},"namespaces":[{"type":"mount"}]}}`))
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUnsupported))
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "linux.resources", fe.Field)
}

func TestLoadRelativeRoot(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "rootfs"), 0o755))
	data, err := os.ReadFile("testdata/runc-spec.json")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
	b, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "rootfs"), b.Rootfs)

	require.NoError(t, os.Remove(filepath.Join(dir, "rootfs")))
	_, err = Load(dir)
	assert.ErrorContains(t, err, "root.path")
}

// FuzzValidateConfig: Parse never panics, and whatever it accepts has the
// invariants the init stage relies on.
func FuzzValidateConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if s.Process == nil || len(s.Process.Args) == 0 || s.Linux == nil || s.Root == nil || s.Linux.Resources != nil {
			t.Fatalf("accepted an incomplete or unsupported spec: %s", data)
		}
		for _, m := range s.Mounts {
			if !filepath.IsAbs(m.Destination) {
				t.Fatalf("accepted relative mount destination %q", m.Destination)
			}
		}
	})
}
