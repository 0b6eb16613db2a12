package benchbundle

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExitELFRunsAndExitsZero(t *testing.T) {
	p := filepath.Join(t.TempDir(), "true")
	require.NoError(t, os.WriteFile(p, ExitELF(), 0o755))
	out, err := exec.Command(p).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, out)
	assert.Less(t, len(ExitELF()), 200)
}

func TestWriteBundles(t *testing.T) {
	cache := t.TempDir()
	profile := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"exit"}, Action: specs.ActAllow}}}
	dirs, err := Write(cache, profile)
	require.NoError(t, err)
	require.Len(t, dirs, 2)
	for name, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		require.NoError(t, err)
		var spec specs.Spec
		require.NoError(t, json.Unmarshal(b, &spec))
		assert.Equal(t, []string{"/true"}, spec.Process.Args)
		assert.Nil(t, spec.Linux.Resources, "no cgroup resources: crun refuses them without a cgroup manager")
		assert.Equal(t, name == Default, spec.Linux.Seccomp != nil, name)
		assert.FileExists(t, filepath.Join(dir, "rootfs", "true"))
		assert.DirExists(t, filepath.Join(dir, "rootfs", "proc"))
	}
	again, err := Write(cache, profile)
	require.NoError(t, err)
	assert.Equal(t, dirs, again, "same inputs, same bundles")
	only, err := Write(cache, nil)
	require.NoError(t, err)
	assert.Len(t, only, 1)
}

func TestLoadProfileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "bogus": 1}`), 0o644))
	_, err := LoadProfile(bad)
	assert.ErrorContains(t, err, "bogus")
	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, []byte(`{"defaultAction": "SCMP_ACT_ERRNO"}`), 0o644))
	_, err = LoadProfile(empty)
	assert.ErrorContains(t, err, "no syscalls")
}

func TestProbeConfigTellsTheProbeWhatItAsks(t *testing.T) {
	c := ProbeConfig()
	args := strings.Join(c.Process.Args, " ")
	assert.True(t, strings.HasPrefix(args, "/csprobe "), args)
	// CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10).
	assert.Contains(t, args, "-capeff 0x20000420")
	assert.Contains(t, args, "-masked "+strings.Join(c.Linux.MaskedPaths, ","))
	assert.Contains(t, args, "-readonly "+strings.Join(c.Linux.ReadonlyPaths, ","))
	assert.True(t, c.Process.NoNewPrivileges)

	bin := filepath.Join(t.TempDir(), "csprobe")
	require.NoError(t, os.WriteFile(bin, []byte("not really a program"), 0o755))
	dir, err := WriteProbe(t.TempDir(), bin)
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(dir, "rootfs", "csprobe"))
	assert.FileExists(t, filepath.Join(dir, "config.json"))
	_, err = WriteProbe(t.TempDir(), filepath.Join(t.TempDir(), "missing"))
	assert.ErrorContains(t, err, "probe bundle")
}
