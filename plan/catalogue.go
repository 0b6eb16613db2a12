// Package plan says what a run measures, in the words host and guest
// share: the scenario catalogue (every scenario's name, its kind, and what
// it needs in the initramfs) and the plan (scenarios, boots, iterations,
// warm-ups, traces), with the kernel command-line words that carry a boot's
// part of the plan to the guest agent.
//
// It measures nothing: the guest times kernel primitives in guest/scenario
// and runtimes in guest/runtimes, the host boots in harness/matrix. Both
// sides import this package, so the host binary links no guest code.
//
// Environment: none.
package plan

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is what sort of work a scenario times.
type Kind string

const (
	// Primitive is a kernel primitive timed in a raw clone child
	// (guest/scenario): netns, mqueue, clone-all, ...
	Primitive Kind = "primitive"
	// SeccompStep is a step from a seccomp profile to an installed filter,
	// timed by csrun in a fresh process (guest/runtimes): seccomp-*.
	SeccompStep Kind = "seccomp"
	// ContainerRun is a whole OCI run of a bundle to exit
	// (guest/runtimes): oci-run/<runtime>/<seccomp>.
	ContainerRun Kind = "container"
	// IsolationCheck runs the probe bundle under a runtime (guest/runtimes,
	// guest/probe): isolation/<runtime>. A check, not a benchmark, so not
	// among the default scenarios.
	IsolationCheck Kind = "isolation"
)

// RunsPrograms reports whether scenarios of kind k run whole programs that
// the initramfs must carry (a runtime, csrun), rather than a system call:
// they cost 100-1000x a namespace clone under TCG, so the plan's slow
// iterations and warm-ups apply to them.
func (k Kind) RunsPrograms() bool { return k != Primitive }

// The initramfs layout the program-running scenarios need: harness/guestimage
// puts the pieces there, guest/runtimes runs them from there.
const (
	// BundleDir holds the OCI bundles, one directory per seccomp mode
	// (SeccompNone, SeccompDefault) and the probe bundle.
	BundleDir = "/bundles"
	// ProfilePath is the default seccomp profile.
	ProfilePath = "/profiles/default.json"
)

// Runtime is an OCI runtime the initramfs can carry.
type Runtime struct {
	Name string
	Path string // where the initramfs puts it
}

// Runtimes are the OCI runtimes, in the order their scenarios run. The
// seccomp steps run csrun, the first.
var Runtimes = []Runtime{
	{"csrun", "/bbin/csrun"},
	{"crun", "/usr/bin/crun"},
	{"runc", "/usr/sbin/runc"},
}

// Seccomp modes of a container run.
const (
	SeccompNone    = "none"
	SeccompDefault = "default"
	SeccompCached  = "cached" // csrun only: its cache of compiled filters
)

// primitives are the kernel primitives, in the order they run; their
// clone flags and kernel options are guest/scenario's.
var primitives = []string{"netns", "ipcns", "utsns", "pidns", "mntns", "userns", "cgroupns", "mqueue", "clone-all"}

// seccompSteps are the seccomp steps, in the order they run.
var seccompSteps = []string{"seccomp-resolve", "seccomp-compile", "seccomp-load"}

// Primitives lists the kernel primitives, in run order.
func Primitives() []string { return slices.Clone(primitives) }

// SeccompSteps lists the seccomp steps, in run order.
func SeccompSteps() []string { return slices.Clone(seccompSteps) }

// ContainerRuns lists every container run, in run order.
func ContainerRuns() []string {
	var out []string
	for _, rt := range Runtimes {
		out = append(out, "oci-run/"+rt.Name+"/"+SeccompNone, "oci-run/"+rt.Name+"/"+SeccompDefault)
		if rt.Name == "csrun" {
			out = append(out, "oci-run/csrun/"+SeccompCached)
		}
	}
	return out
}

// IsolationChecks lists the isolation checks, one per runtime.
func IsolationChecks() []string {
	var out []string
	for _, rt := range Runtimes {
		out = append(out, "isolation/"+rt.Name)
	}
	return out
}

// All lists every benchmark: the kernel primitives, the seccomp steps and
// the container runs (the isolation checks are checks, not benchmarks).
func All() []string {
	return append(append(Primitives(), seccompSteps...), ContainerRuns()...)
}

// NotByDefault are the container scenarios a run leaves out unless they
// are named, each with the reason.
var NotByDefault = map[string]string{
	// Measured in the guest under TCG: 5 runs and a warm-up of it took
	// 12.8 of a boot's 47.7 s. It times runc's own Go start-up without a
	// filter; the kernel paths it crosses (namespaces, pivot_root, mounts,
	// cgroups) are timed in every other oci-run scenario, far cheaper.
	"oci-run/runc/none": "runc without seccomp costs a quarter of a boot and times runc's own start-up, not the kernel's",
}

// Default lists what a run measures when no scenarios are named: All but
// NotByDefault.
func Default() []string {
	var out []string
	for _, n := range All() {
		if _, left := NotByDefault[n]; !left {
			out = append(out, n)
		}
	}
	return out
}

// KindOf says the kind of scenario name from its form alone: oci-run/...,
// isolation/..., a seccomp step, and anything else is taken for a kernel
// primitive. Lookup checks that the scenario exists.
func KindOf(name string) Kind {
	switch {
	case strings.HasPrefix(name, "oci-run/"):
		return ContainerRun
	case strings.HasPrefix(name, "isolation/"):
		return IsolationCheck
	case slices.Contains(seccompSteps, name):
		return SeccompStep
	}
	return Primitive
}

// IsSlow reports whether scenario name runs whole programs (containers,
// isolation probes, seccomp steps), the scenarios SlowIterations and
// SlowWarmups apply to.
func IsSlow(name string) bool { return KindOf(name).RunsPrograms() }

// NeedsRuntimes reports whether any of the scenarios runs programs the
// initramfs must carry: the runtimes, the bundles and the seccomp profile
// then go in (harness/guestimage). Every command that builds an initramfs
// asks this, and only this.
func NeedsRuntimes(scenarios []string) bool {
	return slices.ContainsFunc(scenarios, IsSlow)
}

// Scenario is one catalogue entry.
type Scenario struct {
	Name string
	Kind Kind
	// Runtime runs a container run or isolation check, and csrun a
	// seccomp step; zero for a primitive.
	Runtime Runtime
	// Seccomp is a container run's seccomp mode (SeccompNone for an
	// isolation check); "" for the other kinds.
	Seccomp string
}

// Lookup returns the catalogue entry of name, or an error saying what the
// valid names are.
func Lookup(name string) (Scenario, error) {
	switch KindOf(name) {
	case SeccompStep:
		return Scenario{Name: name, Kind: SeccompStep, Runtime: Runtimes[0]}, nil
	case ContainerRun, IsolationCheck:
		return lookupContainer(name)
	}
	if !slices.Contains(primitives, name) {
		return Scenario{}, fmt.Errorf("unknown scenario %q (valid: %s)", name, strings.Join(primitives, ", "))
	}
	return Scenario{Name: name, Kind: Primitive}, nil
}

func runtimeNamed(name string) (Runtime, bool) {
	for _, rt := range Runtimes {
		if rt.Name == name {
			return rt, true
		}
	}
	return Runtime{}, false
}

// lookupContainer parses oci-run/<runtime>/<seccomp> and isolation/<runtime>.
func lookupContainer(name string) (Scenario, error) {
	parts := strings.Split(name, "/")
	if len(parts) == 2 && parts[0] == "isolation" {
		rt, ok := runtimeNamed(parts[1])
		if !ok {
			return Scenario{}, fmt.Errorf("unknown runtime %q in %s (want one of %s)", parts[1], name, strings.Join(IsolationChecks(), ", "))
		}
		return Scenario{Name: name, Kind: IsolationCheck, Runtime: rt, Seccomp: SeccompNone}, nil
	}
	if len(parts) != 3 || parts[0] != "oci-run" {
		return Scenario{}, fmt.Errorf("unknown container scenario %q (want oci-run/<runtime>/<seccomp>, one of %s)", name, strings.Join(ContainerRuns(), ", "))
	}
	rt, ok := runtimeNamed(parts[1])
	if !ok {
		return Scenario{}, fmt.Errorf("unknown runtime %q in %s (want csrun, crun or runc)", parts[1], name)
	}
	s := Scenario{Name: name, Kind: ContainerRun, Runtime: rt, Seccomp: parts[2]}
	switch s.Seccomp {
	case SeccompNone, SeccompDefault:
	case SeccompCached:
		if rt.Name != "csrun" {
			return Scenario{}, fmt.Errorf("%s: only csrun has a seccomp cache", name)
		}
	default:
		return Scenario{}, fmt.Errorf("unknown seccomp mode %q in %s (want none, default or cached)", s.Seccomp, name)
	}
	return s, nil
}
