package qemu

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProbeKVMCached(t *testing.T) {
	// A stand-in device: the probe opens it, then boots.
	kvmDevice = filepath.Join(t.TempDir(), "kvm")
	require.NoError(t, os.WriteFile(kvmDevice, nil, 0o600))
	defer func() { kvmDevice = "/dev/kvm" }()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not found: the cache key names its version")
	}
	// A kernel that does not exist: a probe that really ran would say it
	// did not start.
	o := Options{Kernel: "/nonexistent/vmlinux", Initrd: "/nonexistent/initrd"}
	key := probeKey("")
	require.NotEmpty(t, key)
	for _, tc := range []struct {
		name   string
		key    string
		ok     bool
		reason string
	}{
		{"same host: the kept answer", key, true, "a KVM probe boot reached the agent; probed"},
		{"another boot of the host: probes again", "other-boot " + key, false, "did not start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "kvm-probe.json")
			b, err := json.Marshal(probeRecord{Key: tc.key, OK: true, Reason: "a KVM probe boot reached the agent", When: time.Now()})
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, b, 0o644))
			ok, reason := ProbeKVMCached(context.Background(), o, 5*time.Second, dir)
			assert.Equal(t, tc.ok, ok)
			assert.Contains(t, reason, tc.reason)
			kept, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, b, kept, "a probe that did not start is not kept")
		})
	}
}
