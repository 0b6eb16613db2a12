package matrix

import (
	"context"
	"time"

	"coldstart/harness/qemu"
	"coldstart/plan"
)

// ProbeAccel chooses the accelerator for runs with t's kernel and initrd:
// qemu.AccelKVM when a short probe boot with KVM reaches the agent
// (qemu.ProbeKVMCached, which keeps the answer in cacheDir until the host
// reboots; "" probes every time), otherwise qemu.AccelTCG. why says which
// and why, for the progress output.
func ProbeAccel(ctx context.Context, t Target, initrd string, cpus, memoryMB int, cacheDir string) (accel, why string) {
	probe := qemu.Options{Kernel: t.Image.Boot(), Initrd: initrd, CPUs: cpus, MemoryMB: memoryMB,
		Append: plan.Plan{Iterations: 1, Warmups: 0}.Cmdline()}
	ok, why := qemu.ProbeKVMCached(ctx, probe, 30*time.Second, cacheDir)
	if ok {
		return qemu.AccelKVM, why
	}
	return qemu.AccelTCG, why
}
