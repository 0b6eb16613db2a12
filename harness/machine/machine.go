// Package machine describes the machine a run was measured on, so that
// timings from different machines are never compared as if they were
// from one: a result file carries a Fingerprint (CPU model, host CPUs,
// host kernel, QEMU version, accelerator, guest vCPUs and memory), and
// Diff says how two fingerprints differ and whether the difference breaks
// the comparison.
//
// # Machine class
//
// Two runs belong to the same class when they share the CPU model, the
// accelerator, the guest's vCPUs and its memory. Those decide how fast a
// guest runs, by factors rather than percents: under TCG every guest
// instruction is translated and run by the host CPU, so a different
// model moves every timing by its clock and microarchitecture (a 20%
// slower core is a 20% "regression"); KVM against TCG is 10-100x; the
// vCPU count decides whether RCU grace periods and IPIs cross CPUs; memory
// moves the page allocator's and the page cache's paths. A baseline from
// another class is refused.
//
// The host kernel, the QEMU version and the host's CPU count are recorded
// and compared too, but only warned about: CI runner images update them
// every few weeks, and refusing on them would leave a nightly without a
// usable baseline most of the time, while their effect on the guest's
// timings is second order (QEMU's TCG code generation changes slowly; the
// host kernel only schedules QEMU's threads, and one VM runs per vCPU
// slice of the host). A step that coincides with such a warning is worth
// a second look, which is why the warning is printed.
//
// Files written before the fingerprint existed have none: they are
// accepted with a warning, since nothing can be checked.
//
// Environment: COLDSTART_QEMU (the QEMU binary, when the caller gives none).
package machine

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
)

// Fingerprint is the machine a run was measured on.
type Fingerprint struct {
	// CPUModel is the host CPU's model name (/proc/cpuinfo).
	CPUModel string `json:"cpu_model"`
	// HostCPUs is the number of host CPUs the harness could use.
	HostCPUs int `json:"host_cpus"`
	// HostKernel is the host's kernel release (uname -r).
	HostKernel string `json:"host_kernel"`
	// QEMU is the first line of `qemu-system-x86_64 --version`.
	QEMU string `json:"qemu"`
	// Accel is the accelerator the guests ran on ("kvm" or "tcg").
	Accel string `json:"accel"`
	// VCPUs and MemoryMB are the guest's.
	VCPUs    int `json:"vcpus"`
	MemoryMB int `json:"memory_mb"`
}

// Detect reads this host's part of the fingerprint (CPU model, CPUs,
// kernel, QEMU version) and sets the guest's from the arguments.
// qemuBinary "" means COLDSTART_QEMU, else qemu-system-x86_64. What cannot
// be read is left "unknown": a fingerprint is a record, not a precondition.
func Detect(qemuBinary, accel string, vcpus, memoryMB int) *Fingerprint {
	f := &Fingerprint{CPUModel: "unknown", HostCPUs: runtime.NumCPU(), HostKernel: "unknown", QEMU: "unknown",
		Accel: accel, VCPUs: vcpus, MemoryMB: memoryMB}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := cpuModel(b); m != "" {
			f.CPUModel = m
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		f.HostKernel = strings.TrimSpace(string(b))
	}
	if qemuBinary == "" {
		qemuBinary = os.Getenv("COLDSTART_QEMU")
	}
	if qemuBinary == "" {
		qemuBinary = "qemu-system-x86_64"
	}
	if out, err := exec.Command(qemuBinary, "--version").Output(); err == nil {
		first, _, _ := strings.Cut(string(out), "\n")
		if first = strings.TrimSpace(first); first != "" {
			f.QEMU = first
		}
	}
	return f
}

// cpuModel is the first "model name" of /proc/cpuinfo content (x86), or
// another architecture's nearest field.
func cpuModel(cpuinfo []byte) string {
	for _, key := range []string{"model name", "Model", "cpu model", "Processor"} {
		sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == key {
				return strings.Join(strings.Fields(v), " ")
			}
		}
	}
	return ""
}

// Class is the machine class as one line: runs of one class can be
// compared (see the package comment).
func (f *Fingerprint) Class() string {
	return fmt.Sprintf("%s, %s, %d vCPUs, %d MiB", f.CPUModel, f.Accel, f.VCPUs, f.MemoryMB)
}

var keyUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// Key is the class as a short name fit for a cache key or a file name:
// "tcg-2cpu-1024m-amd-epyc-7763-64-core-processor".
func (f *Fingerprint) Key() string {
	model := strings.Trim(keyUnsafe.ReplaceAllString(strings.ToLower(f.CPUModel), "-"), "-")
	return fmt.Sprintf("%s-%dcpu-%dm-%s", f.Accel, f.VCPUs, f.MemoryMB, model)
}

// Diff says how b differs from a: class lists the differences that put
// them in different classes ("CPU model: X, not Y"), other the ones that
// only deserve a warning. accel is set when the accelerators differ, the
// one class difference no override may wave through (KVM and TCG timings
// differ by factors). aName and bName name the two sides in the text.
func Diff(a, b *Fingerprint, aName, bName string) (class, other []string, accel bool) {
	field := func(list *[]string, what string, x, y any) {
		if x != y {
			*list = append(*list, fmt.Sprintf("%s: %s %v, %s %v", what, aName, x, bName, y))
		}
	}
	field(&class, "accelerator", a.Accel, b.Accel)
	accel = a.Accel != b.Accel
	field(&class, "CPU model", a.CPUModel, b.CPUModel)
	field(&class, "guest vCPUs", a.VCPUs, b.VCPUs)
	field(&class, "guest memory MiB", a.MemoryMB, b.MemoryMB)
	field(&other, "host kernel", a.HostKernel, b.HostKernel)
	field(&other, "QEMU", a.QEMU, b.QEMU)
	field(&other, "host CPUs", a.HostCPUs, b.HostCPUs)
	return class, other, accel
}

func (f *Fingerprint) String() string {
	return fmt.Sprintf("%s; %d host CPUs, host kernel %s, %s", f.Class(), f.HostCPUs, f.HostKernel, f.QEMU)
}
