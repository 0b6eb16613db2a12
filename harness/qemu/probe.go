package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"coldstart/internal/atomicfile"
)

// kvmDevice is KVM's device; tests point it elsewhere.
var kvmDevice = "/dev/kvm"

// probeRecord is a KVM probe's outcome as kept in the cache.
type probeRecord struct {
	Key    string    `json:"key"`
	OK     bool      `json:"ok"`
	Reason string    `json:"reason"`
	When   time.Time `json:"when"`
}

// ProbeKVMCached is ProbeKVM with its answer kept in cacheDir/kvm-probe.json
// for as long as the host and QEMU stay the same: the host's boot id (so a
// reboot, which may load or fix KVM, probes again), its kernel and the QEMU
// binary's version. On a host whose KVM hangs guests the probe waits out
// its whole timeout, 30 s a run, for the same answer every time. Only a
// probe that booted an answer is kept; no usable /dev/kvm is found at once
// and is never cached. cacheDir "" probes every time.
func ProbeKVMCached(ctx context.Context, o Options, timeout time.Duration, cacheDir string) (ok bool, reason string) {
	if _, err := os.Stat(kvmDevice); err != nil || cacheDir == "" {
		return ProbeKVM(ctx, o, timeout)
	}
	path := filepath.Join(cacheDir, "kvm-probe.json")
	key := probeKey(o.Binary)
	var rec probeRecord
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &rec) == nil && rec.Key == key && key != "" {
		return rec.OK, fmt.Sprintf("%s; probed %s, kept in %s until the host reboots (delete it to probe again)",
			rec.Reason, rec.When.Local().Format("2006-01-02 15:04"), path)
	}
	ok, reason = ProbeKVM(ctx, o, timeout)
	if ctx.Err() != nil || key == "" || strings.Contains(reason, "did not start") {
		return ok, reason
	}
	b, err := json.MarshalIndent(probeRecord{Key: key, OK: ok, Reason: reason, When: time.Now()}, "", "  ")
	if err == nil {
		if err := os.MkdirAll(cacheDir, 0o755); err == nil {
			_ = atomicfile.WriteFile(path, append(b, '\n'), 0o644) // a cache: losing it costs one probe
		}
	}
	return ok, reason
}

// probeKey identifies what a KVM probe's answer depends on, or "" when it
// cannot be told.
func probeKey(binary string) string {
	if binary == "" {
		binary = os.Getenv("COLDSTART_QEMU")
	}
	if binary == "" {
		binary = "qemu-system-x86_64"
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	release, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	version, err := exec.Command(binary, "--version").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(version), "\n")
	return strings.TrimSpace(string(boot)) + " " + strings.TrimSpace(string(release)) + " " + strings.TrimSpace(first)
}
