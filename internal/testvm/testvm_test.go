package testvm

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Makefile's guard (COLDSTART_FETCH_ONLY) allows TEST_KERNEL only: it
// must be the kernel the tests boot.
func TestMakefileTestKernel(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^TEST_KERNEL\s*=\s*(\S+)\s*$`).FindSubmatch(mk)
	require.NotNil(t, m, "Makefile sets no TEST_KERNEL")
	require.Equal(t, DefaultKernel, string(m[1]), "Makefile's TEST_KERNEL and testvm.DefaultKernel must agree")
}

// Tagged finds a tagged process after its parent exited and it was
// reparented (what a QEMU left behind by an interrupted harness looks
// like), does not find untagged ones, and Left reports it until it is
// killed.
func TestTaggedFindsLeftovers(t *testing.T) {
	tag := Tag(t)
	other := exec.Command("sleep", "30")
	require.NoError(t, other.Start())
	defer func() { other.Process.Kill(); other.Wait() }()

	// sh starts sleep in the background and exits at once: the sleep is
	// reparented, as a QEMU whose harness died would be.
	sh := exec.Command("sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!")
	sh.Env = append(os.Environ(), tag)
	out, err := sh.Output()
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	defer syscall.Kill(pid, syscall.SIGKILL)

	left := Left(tag, 0)
	require.Len(t, left, 1, "%v", left)
	assert.Equal(t, pid, left[0].PID)
	assert.Equal(t, "sleep", left[0].Comm)
	assert.Equal(t, "sleep 30", left[0].Cmdline)
	assert.Empty(t, QEMUs(left))
	assert.Equal(t, []Proc{{PID: 7, Comm: "qemu-system-x86", Cmdline: "q"}}, QEMUs([]Proc{{PID: 7, Comm: "qemu-system-x86", Cmdline: "q"}, left[0]}))

	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	assert.Empty(t, Left(tag, 5*time.Second), "a killed process is gone (or a zombie, which is dead)")
}
