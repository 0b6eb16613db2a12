package qemu

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckClock(t *testing.T) {
	for _, tc := range []struct {
		clock, accel string
		cpus         int
		want         string // "" for no error
	}{
		{"wall", AccelTCG, 2, ""},
		{"", AccelKVM, 4, ""},
		{"virtual", AccelTCG, 1, ""},
		{"virtual", AccelTCG, 2, "1 vCPU (got 2)"},
		{"virtual", AccelKVM, 1, "does not go with KVM"},
		{"sundial", AccelTCG, 2, `clock "sundial": want wall or virtual`},
	} {
		err := CheckClock(tc.clock, tc.accel, tc.cpus)
		if tc.want == "" {
			assert.NoError(t, err, "%+v", tc)
			continue
		}
		if assert.Error(t, err, "%+v", tc) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
	assert.Empty(t, ClockParams(ClockWall))
	assert.Contains(t, ClockParams(ClockVirtual), "-icount shift=0,sleep=off,align=off")
}

// The event file is read as QEMU appends to it, and to its end once the
// connection is closed.
func TestFollowConn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	ln, err := newFileListener(path)
	require.NoError(t, err)
	c, err := ln.Accept()
	require.NoError(t, err)
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	for _, s := range []string{"cs1 0 ", "hello\n", "cs1 1 done\n"} {
		_, err := w.WriteString(s)
		require.NoError(t, err)
		time.Sleep(15 * time.Millisecond)
	}
	require.NoError(t, c.Close())
	assert.Equal(t, "cs1 0 hello\ncs1 1 done\n", <-got)
	require.NoError(t, ln.Close())
	_, err = ln.Accept()
	assert.ErrorIs(t, err, net.ErrClosed, "one connection only")
}
