package linux

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidateBPF(t *testing.T) {
	ret := []byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f} // BPF_RET|BPF_K ALLOW
	ld := []byte{0x20, 0, 0, 0, 0, 0, 0, 0}        // BPF_LD
	for _, tc := range []struct {
		name string
		prog []byte
		ok   bool
	}{
		{"single return", ret, true},
		{"load then return", append(append([]byte{}, ld...), ret...), true},
		{"empty", nil, false},
		{"partial instruction", ret[:7], false},
		{"no final return", ld, false},
		{"too long", make([]byte, 8*(MaxInsns+1)), false},
	} {
		assert.Equal(t, tc.ok, ValidateBPF(tc.prog) == nil, tc.name)
	}
}

func TestMonotonic(t *testing.T) {
	a := Monotonic()
	b := Monotonic()
	assert.Greater(t, a, int64(0))
	assert.GreaterOrEqual(t, b, a)
}
