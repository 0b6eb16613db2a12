package main

import (
	"flag"
	"fmt"
	"strings"

	"coldstart/harness/kernels/version"
	"coldstart/harness/matrix"
	"coldstart/harness/qemu"
)

// resolveClock checks --clock and, for the virtual clock, gives --cpus
// and --accel the values it needs unless they were set (and then they
// must be those).
func (mf *matrixFlags) resolveClock(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if mf.clock == qemu.ClockVirtual {
		if !set["cpus"] && mf.resume == "" {
			mf.cpus = qemu.VirtualClock.CPUs
		}
		if mf.accel == "auto" {
			mf.accel = qemu.AccelTCG
		}
	}
	if err := qemu.CheckClock(mf.clock, mf.accel, mf.cpus); err != nil {
		return usagef("--clock %s: %v", mf.clock, err)
	}
	return nil
}

// checkClockKernels refuses the virtual clock for kernels older than
// qemu.VirtualClock.MinKernel: on its one vCPU they skip RCU grace periods.
func checkClockKernels(clock string, targets []matrix.Target) error {
	if clock != qemu.ClockVirtual {
		return nil
	}
	var old []string
	for _, t := range targets {
		v := t.Kernel.Version
		if v == "" && t.Image != nil {
			v = t.Image.Release
		}
		if version.Compare(v, qemu.VirtualClock.MinKernel) < 0 {
			old = append(old, fmt.Sprintf("%s (%s)", t.Kernel.Name, v))
		}
	}
	if len(old) > 0 {
		return usagef("--clock virtual runs one vCPU, on which kernels before %s skip RCU grace periods and hide the regressions coldstart looks for: leave out %s (--kernels), or use --clock wall",
			qemu.VirtualClock.MinKernel, strings.Join(old, ", "))
	}
	return nil
}
