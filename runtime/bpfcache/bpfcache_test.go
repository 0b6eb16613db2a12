package bpfcache

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func prog(n int, b byte) []byte {
	p := bytes.Repeat([]byte{b}, 8*n)
	p[len(p)-8] = 0x06 // BPF_RET
	return p
}

func TestKey(t *testing.T) {
	base := KeyInputs{"0.1.0", "2.5.4", "6.1.0", "#1 SMP", "x86_64", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}}
	k0, err := Key(base)
	require.NoError(t, err)
	assert.Len(t, k0, 64)
	again, _ := Key(base)
	assert.Equal(t, k0, again, "key not stable")
	errno := uint(1)
	for name, edit := range map[string]func(*KeyInputs){
		"csrun version":      func(k *KeyInputs) { k.CsrunVersion = "0.1.1" },
		"libseccomp version": func(k *KeyInputs) { k.LibseccompVersion = "2.6.0" },
		"kernel release":     func(k *KeyInputs) { k.Release = "6.12.0" },
		"kernel version":     func(k *KeyInputs) { k.Version = "#2 SMP" },
		"machine":            func(k *KeyInputs) { k.Machine = "aarch64" },
		"default action":     func(k *KeyInputs) { k.Profile = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno} },
		"default errno": func(k *KeyInputs) {
			k.Profile = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: &errno}
		},
		"flags": func(k *KeyInputs) {
			k.Profile = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_LOG"}}
		},
		"syscall arg": func(k *KeyInputs) {
			k.Profile = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"personality"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}}}}
		},
		"field boundaries": func(k *KeyInputs) { k.CsrunVersion, k.LibseccompVersion = "0.1.02", ".5.4" },
	} {
		in := base
		edit(&in)
		k, err := Key(in)
		require.NoError(t, err)
		assert.NotEqual(t, k0, k, name)
	}
}

func TestDecodeDetectsCorruption(t *testing.T) {
	good := Encode(prog(4, 0x20))
	p, err := Decode(good)
	require.NoError(t, err)
	assert.Equal(t, prog(4, 0x20), p)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", good[:20]},
		{"header only", good[:HeaderSize]},
		{"truncated payload", good[:len(good)-8]},
		{"truncated by one byte", good[:len(good)-1]},
		{"extra bytes", append(append([]byte{}, good...), 0)},
		{"bad magic", append([]byte("XSBPF\x00\x01\x00"), good[8:]...)},
		{"payload bit flip", func() []byte { c := append([]byte{}, good...); c[HeaderSize+3] ^= 1; return c }()},
		{"checksum bit flip", func() []byte { c := append([]byte{}, good...); c[20] ^= 1; return c }()},
		{"not whole instructions", Encode([]byte{1, 2, 3})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data)
			assert.Error(t, err)
		})
	}
}

func TestGetPut(t *testing.T) {
	c := New(filepath.Join(t.TempDir(), "seccomp"), 0)
	key := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	_, err := c.Get(key)
	assert.ErrorIs(t, err, ErrMiss)
	require.NoError(t, c.Put(key, prog(3, 1)))
	got, err := c.Get(key)
	require.NoError(t, err)
	assert.Equal(t, prog(3, 1), got)

	// A corrupt entry is reported, removed, and then a miss.
	require.NoError(t, os.WriteFile(filepath.Join(c.Dir, key), []byte("garbage"), 0o600))
	_, err = c.Get(key)
	assert.ErrorIs(t, err, ErrCorrupt)
	_, err = c.Get(key)
	assert.ErrorIs(t, err, ErrMiss)

	_, err = c.Get("../../etc/passwd")
	assert.Error(t, err)
	assert.False(t, errors.Is(err, ErrMiss))

	ents, _ := os.ReadDir(c.Dir)
	for _, e := range ents {
		assert.NotContains(t, e.Name(), ".tmp", "temporary file left behind")
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	entry := int64(HeaderSize + 8*16)
	c := New(t.TempDir(), 3*entry) // room for three entries
	keys := []string{}
	for i := 0; i < 3; i++ {
		k := string(bytes.Repeat([]byte{"abc"[i]}, 64))
		keys = append(keys, k)
		require.NoError(t, c.Put(k, prog(16, byte(i))))
		old := time.Now().Add(time.Duration(i-10) * time.Minute)
		require.NoError(t, os.Chtimes(filepath.Join(c.Dir, k), old, old))
	}
	// Use the oldest: now "b" is the least recently used.
	_, err := c.Get(keys[0])
	require.NoError(t, err)
	require.NoError(t, c.Put(string(bytes.Repeat([]byte{'d'}, 64)), prog(16, 9)))
	for i, want := range []bool{true, false, true} {
		_, err := os.Stat(filepath.Join(c.Dir, keys[i]))
		assert.Equal(t, want, err == nil, "entry %s present", keys[i][:1])
	}
}
