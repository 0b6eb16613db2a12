// Package duration writes nanosecond figures for people, the one way every
// table and report of coldstart does: 812ns, 95.3µs, 11.57ms, 1.204s.
//
// Environment: none.
package duration

import (
	"fmt"
	"math"
)

// Format writes ns with the unit that keeps three or four digits: 812ns,
// 95.3µs, 11.57ms, 1.204s. A negative figure keeps its sign ("-95.3µs");
// NaN and infinities are "-".
func Format(ns float64) string {
	a := math.Abs(ns)
	switch {
	case math.IsNaN(ns) || math.IsInf(ns, 0):
		return "-"
	case a >= 1e9:
		return fmt.Sprintf("%.3fs", ns/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.2fms", ns/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1fµs", ns/1e3)
	}
	return fmt.Sprintf("%.0fns", ns)
}
