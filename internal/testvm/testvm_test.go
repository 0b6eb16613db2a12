package testvm

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

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
