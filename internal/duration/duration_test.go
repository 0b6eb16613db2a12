package duration

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFormat(t *testing.T) {
	for ns, want := range map[float64]string{812: "812ns", 95300: "95.3µs", 11_570_000: "11.57ms", 1_204_000_000: "1.204s"} {
		assert.Equal(t, want, Format(ns))
	}
	assert.Equal(t, "-95.3µs", Format(-95300))
	assert.Equal(t, "-", Format(math.NaN()))
	assert.Equal(t, "-", Format(math.Inf(1)))
}
