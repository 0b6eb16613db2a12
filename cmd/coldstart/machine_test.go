package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/kernels"
	"coldstart/harness/machine"
	"coldstart/harness/matrix"
	"coldstart/harness/results"
)

// matrix --baselines refuses, before booting, a baseline it could not be
// compared with, by the gate's rule.
func TestBaselinesFit(t *testing.T) {
	host := &machine.Fingerprint{CPUModel: "AMD EPYC 7763 64-Core Processor", HostCPUs: 4, HostKernel: "6.8.0-1017-azure",
		QEMU: "QEMU emulator version 8.2.2", Accel: "tcg", VCPUs: 2, MemoryMB: 1024}
	baseline := func(edit func(*machine.Fingerprint)) *results.File {
		m := *host
		edit(&m)
		return &results.File{Kernel: results.Kernel{Name: "debian-6.1-cloud"}, Accel: m.Accel, Machine: &m}
	}
	targets := []matrix.Target{{Kernel: kernels.Kernel{Name: "debian-6.1-cloud"}}, {Kernel: kernels.Kernel{Name: "debian-6.12-cloud"}}}
	for _, tc := range []struct {
		name    string
		base    *results.File
		anyHost bool
		exit    int
		says    string
	}{
		{"same class", baseline(func(*machine.Fingerprint) {}), false, exitOK, ""},
		{"another host kernel", baseline(func(m *machine.Fingerprint) { m.HostKernel = "6.1.0-41-amd64" }), false, exitOK, "warning: debian-6.1-cloud: same machine class, but host kernel"},
		{"another CPU model", baseline(func(m *machine.Fingerprint) { m.CPUModel = "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz" }), false, exitUsage,
			"comparison refused before booting: debian-6.1-cloud: measured on different machine classes (CPU model: baseline Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz, this machine AMD EPYC 7763 64-Core Processor); record a baseline on this machine, or pass --any-host"},
		{"another CPU model, --any-host", baseline(func(m *machine.Fingerprint) { m.CPUModel = "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz" }), true, exitOK, "compared because of --any-host"},
		{"another accelerator, --any-host", baseline(func(m *machine.Fingerprint) { m.Accel = "kvm" }), true, exitUsage, "the accelerators differ"},
		{"an older baseline", &results.File{Kernel: results.Kernel{Name: "debian-6.1-cloud"}, Accel: "tcg"}, false, exitOK, "records no machine fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			err := baselinesFit(map[string]*results.File{"debian-6.1-cloud": tc.base}, targets, host, tc.anyHost, &stderr)
			var code strings.Builder
			require.Equal(t, tc.exit, exitCode(t.Context(), &code, err), "%v", err)
			assert.Contains(t, stderr.String()+code.String(), tc.says)
			if tc.says == "" {
				assert.Empty(t, stderr.String())
			}
		})
	}
}
