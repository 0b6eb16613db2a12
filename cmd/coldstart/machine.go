package main

import (
	"context"
	"fmt"
	"io"

	"coldstart/harness/compare"
	"coldstart/harness/machine"
	"coldstart/harness/qemu"
)

const machineUsage = `usage: coldstart machine [RUN_DIR | RESULT_FILE] [--key] [--accel A --cpus N --memory M]

Prints the machine fingerprint a run recorded (CPU model, host CPUs, host
kernel, QEMU version, accelerator, guest vCPUs and memory) and its machine
class: compare refuses a baseline of another class (exit 2; --any-host
compares anyway). Without a path, this host's, for the accelerator and
guest given. --key prints only the class as a short name, for a cache key
(the nightly workflow keys its baselines by it); it fails when the files
do not share one class, or record none.`

func runMachine(_ context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("machine", machineUsage, stderr)
	key := fs.Bool("key", false, "print only the machine class as a short name")
	accel := fs.String("accel", qemu.AccelTCG, "without a path: the accelerator the guests would run on (kvm or tcg)")
	cpus := fs.Int("cpus", 2, "without a path: guest vCPUs")
	memory := fs.Int("memory", 1024, "without a path: guest memory in MiB")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 1 {
		return usagef("machine takes at most one RUN_DIR or RESULT_FILE, got %d", len(pos))
	}
	if len(pos) == 0 {
		if *accel != qemu.AccelTCG && *accel != qemu.AccelKVM {
			return usagef("--accel %q: want kvm or tcg", *accel)
		}
		m := machine.Detect("", *accel, *cpus, *memory)
		if *key {
			fmt.Fprintln(stdout, m.Key())
			return nil
		}
		fmt.Fprintf(stdout, "this host: %s\nclass: %s\n", m, m.Class())
		return nil
	}
	files, err := compare.Load(pos[0])
	if err != nil {
		return inputError(err)
	}
	keys := map[string]bool{}
	for _, f := range files {
		if f.Machine == nil {
			if *key {
				return usagef("%s (%s) records no machine fingerprint (an older file): it has no class to key", pos[0], f.Kernel.Name)
			}
			fmt.Fprintf(stdout, "%s: no machine fingerprint (an older file; accelerator %s)\n", f.Kernel.Name, f.Accel)
			continue
		}
		keys[f.Machine.Key()] = true
		if !*key {
			fmt.Fprintf(stdout, "%s: %s\n  class: %s\n  key: %s\n", f.Kernel.Name, f.Machine, f.Machine.Class(), f.Machine.Key())
		}
	}
	if *key {
		if len(keys) != 1 {
			return usagef("%s holds %d machine classes: no one key", pos[0], len(keys))
		}
		for k := range keys {
			fmt.Fprintln(stdout, k)
		}
	}
	return nil
}
