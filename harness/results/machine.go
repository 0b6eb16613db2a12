package results

import (
	"fmt"

	"coldstart/harness/machine"
)

// MachineDiff is how the machines of two result files differ (see
// package machine for what a machine class is).
type MachineDiff struct {
	// Class lists the differences that put the files in different
	// machine classes; Accel is set when one of them is the accelerator.
	Class []string
	Accel bool
	// Other lists differences only worth a warning (host kernel, QEMU,
	// host CPUs).
	Other []string
	// Unknown says which files carry no fingerprint (written before it
	// was recorded): nothing but the accelerator could be checked.
	Unknown []string
}

// CompareMachines compares the machines a and b ran on; aName and bName
// name them in the text ("base", "new", a path).
func CompareMachines(a, b *File, aName, bName string) MachineDiff {
	var d MachineDiff
	for _, s := range []struct {
		f    *File
		name string
	}{{a, aName}, {b, bName}} {
		if s.f.Machine == nil {
			d.Unknown = append(d.Unknown, fmt.Sprintf("%s (%s) records no machine fingerprint (an older file): its machine class cannot be checked", s.name, s.f.Kernel.Name))
		}
	}
	if a.Machine == nil || b.Machine == nil {
		if a.Accel != b.Accel && a.Accel != "" && b.Accel != "" {
			d.Accel = true
			d.Class = append(d.Class, fmt.Sprintf("accelerator: %s %s, %s %s", aName, a.Accel, bName, b.Accel))
		}
		return d
	}
	d.Class, d.Other, d.Accel = machine.Diff(a.Machine, b.Machine, aName, bName)
	return d
}
