package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"coldstart/runtime/seccomp"
)

// benchSeccomp times one seccomp step on a profile, once, and prints
// {"op_ns": N, "count": M}; the guest agent runs it as a fresh process per
// iteration (the seccomp-* scenarios):
//
//	csrun bench-seccomp resolve|compile|load PROFILE
//
// load installs the filter in this process, which then only writes its
// result and exits (the default profile allows both).
func benchSeccomp(stdout io.Writer, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("%w: csrun bench-seccomp resolve|compile|load PROFILE", errUsage)
	}
	b, err := os.ReadFile(args[1])
	if err != nil {
		return fmt.Errorf("read profile: %w", err)
	}
	var prof specs.LinuxSeccomp
	if err := json.Unmarshal(b, &prof); err != nil {
		return fmt.Errorf("profile %s: %w", args[1], err)
	}
	opNS, count, err := seccomp.Bench(args[0], &prof)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "{\"op_ns\": %d, \"count\": %d}\n", opNS, count)
	return err
}
