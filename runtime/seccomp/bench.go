package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"coldstart/runtime/internal/linux"
)

// Bench times one seccomp step on a profile, for the guest's seccomp-*
// scenarios: "resolve" looks up the syscall names, "compile" builds and
// exports the BPF program, "load" installs a precompiled program with
// seccomp(2) after PR_SET_NO_NEW_PRIVS, in the calling process, which
// should then exit. It returns the step's duration (CLOCK_MONOTONIC) and a
// count (names resolved, or BPF instructions).
func Bench(step string, prof *specs.LinuxSeccomp) (opNS int64, count int, err error) {
	switch step {
	case "resolve":
		t0 := linux.Monotonic()
		count = Resolve(prof)
		return linux.Monotonic() - t0, count, nil
	case "compile":
		t0 := linux.Monotonic()
		prog, err := Compile(prof)
		opNS = linux.Monotonic() - t0
		return opNS, len(prog) / 8, err
	case "load":
		prog, err := Compile(prof)
		if err != nil {
			return 0, 0, err
		}
		if err := linux.SetNoNewPrivs(); err != nil {
			return 0, 0, err
		}
		t0 := linux.Monotonic()
		err = linux.LoadSeccomp(prog, 0)
		opNS = linux.Monotonic() - t0
		if err != nil {
			return 0, 0, fmt.Errorf("seccomp(2): %w", err)
		}
		return opNS, len(prog) / 8, nil
	default:
		return 0, 0, fmt.Errorf("unknown seccomp step %q (want resolve, compile or load)", step)
	}
}
