package matrix

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCoarseClock(t *testing.T) {
	for _, tc := range []struct {
		clocksource string
		coarse      bool
	}{
		{"jiffies", true},
		{"refined-jiffies", true},
		{"tsc", false},
		// The e2e kernel under -icount: clock_getres says 4 ms, but
		// its samples (108103 ns, 119396 ns, ...) step by nanoseconds.
		{"tsc-early", false},
		{"hpet", false},
		{"acpi_pm", false},
		{"kvm-clock", false},
	} {
		assert.Equal(t, tc.coarse, coarseClock(tc.clocksource), tc.clocksource)
	}
}
