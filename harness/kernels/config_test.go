package kernels

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ikconfigBlob is what kernel/configs.c embeds: the marker, a gzip stream of
// the config, the end marker.
func ikconfigBlob(t *testing.T, cfg string) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, err := zw.Write([]byte(cfg))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	out := append([]byte("IKCFG_ST"), z.Bytes()...)
	return append(out, "IKCFG_ED"...)
}

func TestExtractIKConfig(t *testing.T) {
	cfg := "CONFIG_SMP=y\n# CONFIG_USER_NS is not set\nCONFIG_NET_NS=y\n"
	// The config sits inside the ELF; a stray marker without a gzip stream
	// comes first, as string tables can hold one.
	elf := buildELF(true, 5000)
	blob := append([]byte("IKCFG_ST not gzip"), ikconfigBlob(t, cfg)...)
	copy(elf[len(elf)-len(blob)-100:], blob)
	got, err := ExtractIKConfig(elf)
	require.NoError(t, err)
	assert.Equal(t, cfg, string(got))

	// Inside a compressed bzImage payload.
	bz := buildBzImage(withSize(lz4Legacy(t, elf, 1<<20), len(elf)), 0x020f)
	got, err = ExtractIKConfig(bz)
	require.NoError(t, err)
	assert.Equal(t, cfg, string(got))

	_, err = ExtractIKConfig(buildELF(true, 1000))
	assert.ErrorIs(t, err, ErrNoConfig)
}

func TestConfigOptions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config-x")
	require.NoError(t, os.WriteFile(p, []byte("CONFIG_NET_NS=y\nCONFIG_IPC_NS=y\nCONFIG_POSIX_MQUEUE=m\n# CONFIG_USER_NS is not set\nCONFIG_CMDLINE=\"a b\"\n"), 0o644))
	c, err := ReadConfig(p)
	require.NoError(t, err)
	assert.Equal(t, "a b", c["CONFIG_CMDLINE"])
	assert.True(t, c.Enabled("NET_NS"))
	assert.True(t, c.Enabled("CONFIG_POSIX_MQUEUE"), "a module counts as present")
	assert.False(t, c.Enabled("CONFIG_USER_NS"))
	assert.Equal(t, []string{"CONFIG_USER_NS", "CONFIG_PID_NS"}, c.Missing("CONFIG_NET_NS, CONFIG_USER_NS,CONFIG_PID_NS,"))
	assert.Empty(t, c.Missing(""))

	im := &Image{Name: "k", Config: p}
	opts, err := im.Options("CONFIG_NET_NS,CONFIG_IPC_NS", "CONFIG_USER_NS")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"CONFIG_NET_NS": true, "CONFIG_IPC_NS": true, "CONFIG_USER_NS": false}, opts)
	missing, err := im.MissingOptions("CONFIG_USER_NS")
	require.NoError(t, err)
	assert.Equal(t, []string{"CONFIG_USER_NS"}, missing)

	// No config file: the image's embedded config is used, else ErrNoConfig.
	vm := filepath.Join(dir, "vmlinux")
	require.NoError(t, os.WriteFile(vm, append(buildELF(true, 100), ikconfigBlob(t, "CONFIG_USER_NS=y\n")...), 0o644))
	missing, err = (&Image{Name: "k", Vmlinux: vm}).MissingOptions("CONFIG_USER_NS,CONFIG_NET_NS")
	require.NoError(t, err)
	assert.Equal(t, []string{"CONFIG_NET_NS"}, missing)
	require.NoError(t, os.WriteFile(vm, buildELF(true, 100), 0o644))
	_, err = (&Image{Name: "k", Vmlinux: vm}).Options("CONFIG_NET_NS")
	assert.ErrorIs(t, err, ErrNoConfig)
}
