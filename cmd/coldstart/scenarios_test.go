package main

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseScenariosDefault(t *testing.T) {
	for _, tc := range []struct {
		list     string
		has, not []string
	}{
		{"", []string{"netns", "seccomp-load", "oci-run/runc/default", "oci-run/crun/none"}, []string{"oci-run/runc/none"}},
		{"all", []string{"netns", "oci-run/runc/default", "oci-run/runc/none"}, nil},
		{"oci-run/runc/none,netns", []string{"oci-run/runc/none", "netns"}, []string{"ipcns"}},
	} {
		got, err := parseScenarios(tc.list)
		require.NoError(t, err, tc.list)
		for _, n := range tc.has {
			assert.True(t, slices.Contains(got, n), "%q: %s missing from %v", tc.list, n, got)
		}
		for _, n := range tc.not {
			assert.False(t, slices.Contains(got, n), "%q: %s in %v", tc.list, n, got)
		}
	}
}

func TestSelectKernelsDefault(t *testing.T) {
	src, err := sourceDir()
	require.NoError(t, err)
	var names []string
	ts, err := selectKernels(matrixFlags{}, src)
	require.NoError(t, err)
	for _, k := range ts {
		names = append(names, k.Kernel.Name)
	}
	assert.Contains(t, names, "debian-6.1-cloud")
	assert.NotContains(t, names, "tiny-6.1", "a first matrix builds no kernel: 12-30 min on two cores")
	all, err := selectKernels(matrixFlags{kernels: "all"}, src)
	require.NoError(t, err)
	assert.Greater(t, len(all), len(ts))
}
