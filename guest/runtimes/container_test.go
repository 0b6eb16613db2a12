package runtimes

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/plan"
)

func TestNamesAndLookup(t *testing.T) {
	for _, n := range plan.ContainerRuns() {
		s, err := Lookup(n)
		require.NoError(t, err, n)
		assert.Equal(t, n, s.Name)
		assert.NotEmpty(t, s.Path)
	}
	// The catalogue's errors come through (plan's TestLookupUnknown has
	// them all); a name of another kind is refused.
	_, err := Lookup("oci-run/crun/cached")
	assert.ErrorContains(t, err, "only csrun")
	_, err = Lookup("netns")
	assert.ErrorContains(t, err, "unknown container scenario")
	s, _ := Lookup("oci-run/csrun/cached")
	assert.Equal(t, "/bundles/default", s.bundle(), "the cached run uses the default-profile bundle")
	for _, n := range plan.IsolationChecks() {
		s, err := Lookup(n)
		require.NoError(t, err, n)
		assert.True(t, s.Probe, n)
		assert.Equal(t, "/bundles/probe", s.bundle(), n)
	}
}

func TestParsePhases(t *testing.T) {
	got := parsePhases([]byte(`{"total_ns": 1200, "seccomp_cache_hit": true, "seccomp": "cache-hit", "x": {"y": 2},
		"phases": [{"name": "parse", "start_ns": 0, "dur_ns": 300}, {"name": "mounts", "start_ns": 300, "dur_ns": 500}]}`))
	assert.Equal(t, map[string]int64{"total_ns": 1200, "seccomp_cache_hit": 1, "x.y": 2, "parse_ns": 300, "mounts_ns": 500}, got)
	assert.Nil(t, parsePhases([]byte("not json")))
}

func TestLookupSeccomp(t *testing.T) {
	for _, n := range plan.SeccompSteps() {
		s, err := LookupSeccomp(n)
		require.NoError(t, err)
		assert.Equal(t, n, "seccomp-"+s.Step)
	}
	_, err := LookupSeccomp("seccomp-frob")
	assert.ErrorContains(t, err, "seccomp-resolve")
}
