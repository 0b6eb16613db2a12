package version

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.1.192", "6.1.192", 0},
		{"6.1.9", "6.1.10", -1},
		{"6.12.1", "6.1.200", 1},
		{"5.10.262", "6.1", -1},
		{"7.3-rc7", "7.3", -1},
		{"7.3-rc7", "7.3-rc10", -1},
		{"7.3", "7.3.1", -1},
		{"6.1.0~1", "6.1.0", -1},
		{"6.1a", "6.1", 1},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, Compare(tc.a, tc.b), "%s vs %s", tc.a, tc.b)
		assert.Equal(t, -tc.want, Compare(tc.b, tc.a), "%s vs %s", tc.b, tc.a)
	}
}

// The order compare.SortByVersion lists kernels in.
func TestCompareSortsKernels(t *testing.T) {
	in := []string{"7.3-rc7", "6.12.117", "5.10.223", "6.1.192", "7.2.13", "6.12.95", "7.3"}
	want := []string{"5.10.223", "6.1.192", "6.12.95", "6.12.117", "7.2.13", "7.3-rc7", "7.3"}
	got := append([]string(nil), in...)
	for i := range got {
		for j := i + 1; j < len(got); j++ {
			if Compare(got[j], got[i]) < 0 {
				got[i], got[j] = got[j], got[i]
			}
		}
	}
	assert.Equal(t, want, got)
}

func TestDebian(t *testing.T) {
	assert.Equal(t, 1, Debian("6.1.192-3", "6.1.192-2"))
	assert.Equal(t, 1, Debian("6.1.192-1", "6.1.190-9"))
	assert.Equal(t, -1, Debian("6.12.115-2~deb12u1", "6.12.117-1~deb12u1"))
	assert.Equal(t, -1, Debian("6.12.90-1~bpo12+1", "6.12.90-1"))
	assert.Equal(t, 1, Debian("1:1.0-1", "2.0-1"))
}
