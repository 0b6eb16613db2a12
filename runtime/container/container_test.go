package container

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		opts  []string
		flags uintptr
		nprop int
		data  string
	}{
		{[]string{"nosuid", "noexec", "nodev", "ro"}, unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RDONLY, 0, ""},
		{[]string{"nosuid", "strictatime", "mode=755", "size=65536k"}, unix.MS_NOSUID | unix.MS_STRICTATIME, 0, "mode=755,size=65536k"},
		{[]string{"rbind", "rprivate", "ro"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, 1, ""},
		{[]string{"ro", "rw"}, 0, 0, ""},
		{[]string{"newinstance", "ptmxmode=0666"}, 0, 0, "newinstance,ptmxmode=0666"},
	} {
		flags, prop, data := parseOptions(tc.opts)
		assert.Equal(t, tc.flags, flags, "%v", tc.opts)
		assert.Len(t, prop, tc.nprop, "%v", tc.opts)
		assert.Equal(t, tc.data, data, "%v", tc.opts)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"KILL": unix.SIGKILL, "SIGTERM": unix.SIGTERM, "9": unix.SIGKILL, "usr1": unix.SIGUSR1} {
		got, err := ParseSignal(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "SIGFOO", "0", "99"} {
		_, err := ParseSignal(bad)
		assert.Error(t, err, bad)
	}
}

func TestIDs(t *testing.T) {
	r := New(Options{Root: t.TempDir()})
	for _, bad := range []string{"", "../x", "a/b", "cache", ".hidden"} {
		_, err := r.dir(bad)
		assert.Error(t, err, bad)
	}
	for _, good := range []string{"a", "b0", "A_b.c+d-e", "0" + strings.Repeat("x", 127)} {
		_, err := r.dir(good)
		assert.NoError(t, err, good)
	}
	for _, bad := range []string{"-a", "_a", "a b", "a\x00", "é", "0" + strings.Repeat("x", 128)} {
		_, err := r.dir(bad)
		assert.Error(t, err, bad)
	}
	_, err := r.State("nope")
	assert.ErrorIs(t, err, ErrNotExist)
}
