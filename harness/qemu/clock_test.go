package qemu

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
