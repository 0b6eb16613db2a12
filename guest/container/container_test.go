package container

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNamesAndLookup(t *testing.T) {
	assert.Equal(t, []string{
		"oci-run/csrun/none", "oci-run/csrun/default", "oci-run/csrun/cached",
		"oci-run/crun/none", "oci-run/crun/default", "oci-run/runc/none", "oci-run/runc/default",
	}, Names())
	for _, n := range Names() {
		s, err := Lookup(n)
		require.NoError(t, err, n)
		assert.Equal(t, n, s.Name)
		assert.NotEmpty(t, s.Path)
	}
	tests := []struct{ name, want string }{
		{"oci-run/crun/cached", "only csrun"},
		{"oci-run/podman/none", "unknown runtime"},
		{"oci-run/crun/strict", "unknown seccomp mode"},
		{"oci-run/crun", "unknown container scenario"},
	}
	for _, tt := range tests {
		_, err := Lookup(tt.name)
		assert.ErrorContains(t, err, tt.want, tt.name)
	}
	s, _ := Lookup("oci-run/csrun/cached")
	assert.Equal(t, "/bundles/default", s.bundle(), "the cached run uses the default-profile bundle")
}

func TestParsePhases(t *testing.T) {
	got := parsePhases([]byte(`{"parse_ns": 1200, "seccomp": {"compile_ns": 0, "cache_hit": true}, "note": "x"}`))
	assert.Equal(t, map[string]int64{"parse_ns": 1200, "seccomp.compile_ns": 0, "seccomp.cache_hit": 1}, got)
	assert.Nil(t, parsePhases([]byte("not json")))
}
