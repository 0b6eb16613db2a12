package results

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteReadRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.json")
	f := &File{
		Schema: Schema, Kernel: Kernel{Name: "k", Release: "6.1.0", Source: "debian", SHA256: "ab"}, Accel: "tcg",
		Scenarios: map[string]*Scenario{"netns": {Status: StatusOK, Samples: []Sample{{Boot: 1, Iter: 2, WallNS: 3, OpNS: 2}}}},
		Started:   time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC), Complete: true,
	}
	require.NoError(t, Write(p, f))
	got, err := Read(p)
	require.NoError(t, err)
	assert.Equal(t, f, got)
	assert.Equal(t, []float64{3}, got.Scenarios["netns"].Walls())
}

func TestReadRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"not json", "{", "not a coldstart result file"},
		{"other schema", `{"schema": 99}`, "schema 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+".json")
			require.NoError(t, os.WriteFile(p, []byte(tt.content), 0o644))
			_, err := Read(p)
			assert.ErrorContains(t, err, tt.want)
			assert.ErrorContains(t, err, p)
		})
	}
	_, err := Read(filepath.Join(dir, "missing.json"))
	assert.Error(t, err)
}
