package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"coldstart/harness/ci"
	"coldstart/harness/compare"
	"coldstart/harness/kernels"
	"coldstart/harness/matrix"
	"coldstart/harness/qemu"
	"coldstart/harness/tree"
	"coldstart/plan"
)

const ciUsage = `usage: coldstart ci --tree DIR --base REF (--head REF | --patches DIR) [flags]

Builds the base and the patched kernel of a git tree with the config
fragment, boots them alternately (base, head, base, head, ...), compares
them with the verdict rule and writes report.md, report.txt and junit.xml
into --out. With --explain the reports end with where in the kernel each
regressed or improved scenario's time went. The tree's checkout is never touched: the work happens in a
private clone under the cache. Exit status: 0 every scenario compared and
none regressed, 1 a scenario regressed (or ran on the base and fails or
is unsupported on the head), 2 a kernel could not be built or booted (the
log's tail is printed) or the comparison is incomplete (a boot failed, a
scenario ran on one side only), 130 interrupted.`

// labFlags are the flags ci and bisect share: the tree, where the reports
// go, how to boot, how to compare, whether to explain.
type labFlags struct {
	repo, out string
	vf        vmFlags
	cf        compareFlags
	ef        explainFlags
}

// register declares them; src is the source tree (the config fragment's
// default is in it), outHelp says what --out holds.
func (lf *labFlags) register(fs *flag.FlagSet, src, outHelp string) {
	fs.StringVar(&lf.repo, "tree", "", "the kernel's git repository")
	fs.StringVar(&lf.out, "out", "", outHelp)
	lf.vf.register(fs, src)
	lf.cf.register(fs)
	lf.ef.register(fs)
}

// resolve checks them and returns the compare options and the traced
// iterations (0 without --explain).
func (lf *labFlags) resolve() (compare.Options, int, error) {
	if err := lf.vf.check(); err != nil {
		return compare.Options{}, 0, err
	}
	co, err := lf.cf.options()
	if err != nil {
		return compare.Options{}, 0, err
	}
	traced, err := lf.ef.iterations()
	return co, traced, err
}

// vmFlags are the boot flags ci and bisect share with matrix.
type vmFlags struct {
	iterations, warmups, cpus, memory, makeJobs int
	slowIters, slowWarm                         int
	accel, fragment, cacheDir, clock            string
}

func (vf *vmFlags) register(fs *flag.FlagSet, src string) {
	fs.IntVar(&vf.iterations, "iterations", 30, "timed iterations per scenario per boot")
	fs.IntVar(&vf.warmups, "warmups", 3, "untimed iterations before the timed ones")
	fs.IntVar(&vf.slowIters, "slow-iterations", 5, "timed iterations of the scenarios that run whole programs (oci-run/*, isolation/*, seccomp-*); 0: same as --iterations")
	fs.IntVar(&vf.slowWarm, "slow-warmups", 1, "untimed iterations of the scenarios that run whole programs; 0: same as --warmups")
	fs.StringVar(&vf.accel, "accel", "auto", "auto (KVM if a probe boot works, else TCG), kvm or tcg")
	fs.IntVar(&vf.cpus, "cpus", 0, "guest vCPUs (default 2: on one CPU older kernels skip RCU grace periods; 1 with --clock virtual)")
	fs.StringVar(&vf.clock, "clock", qemu.ClockWall, "the guest's clock: wall, or virtual (QEMU's instruction count, idle skipped: host load cannot move it; TCG, one vCPU, kernels 5.17 and later)")
	fs.IntVar(&vf.memory, "memory", 1024, "guest memory in MiB")
	fs.StringVar(&vf.fragment, "config", filepath.Join(src, "kernels", kernels.DefaultFragment), "config fragment applied on top of make tinyconfig")
	fs.IntVar(&vf.makeJobs, "make-jobs", 0, "make -j for kernel builds (default: host CPUs)")
}

// explainFlags are ci's and bisect's --explain.
type explainFlags struct {
	on    bool
	trace int
}

func (ef *explainFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&ef.on, "explain", false, "also graph each scenario in the kernel (function_graph) for --trace iterations after the timed ones,\nwhich are never traced, and report where the time went (as coldstart explain does)")
	fs.IntVar(&ef.trace, "trace", 3, "with --explain: iterations per scenario and boot to trace")
}

// iterations is the Explain option: traced iterations, 0 without --explain.
func (ef *explainFlags) iterations() (int, error) {
	if !ef.on {
		return 0, nil
	}
	if ef.trace < 1 {
		return 0, usagef("--trace must be at least 1 with --explain")
	}
	return ef.trace, nil
}

func (vf *vmFlags) check() error {
	if vf.cpus == 0 {
		vf.cpus = 2
		if vf.clock == qemu.ClockVirtual {
			vf.cpus = qemu.VirtualClock.CPUs
		}
	}
	if vf.clock == qemu.ClockVirtual && vf.accel == "auto" {
		vf.accel = qemu.AccelTCG
	}
	if err := qemu.CheckClock(vf.clock, vf.accel, vf.cpus); err != nil {
		return usagef("--clock %s: %v", vf.clock, err)
	}
	if vf.iterations < 1 || vf.warmups < 0 || vf.cpus < 1 || vf.slowIters < 0 || vf.slowWarm < 0 {
		return usagef("--iterations and --cpus must be at least 1, --warmups, --slow-iterations and --slow-warmups at least 0")
	}
	switch vf.accel {
	case "auto", qemu.AccelKVM, qemu.AccelTCG:
	default:
		return usagef("--accel %q: want auto, kvm or tcg", vf.accel)
	}
	abs, err := filepath.Abs(vf.fragment)
	if err != nil {
		return usageError{err}
	}
	vf.fragment = abs
	return nil
}

func runCI(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runCIWith(ctx, stdout, stderr, args, realLab())
}

func runCIWith(ctx context.Context, stdout, stderr io.Writer, args []string, l lab) error {
	fs := newFlagSet("ci", ciUsage, stderr)
	base := fs.String("base", "", "the base ref")
	head := fs.String("head", "", "the patched ref (or --patches)")
	patches := fs.String("patches", "", "a directory of patches (git format-patch output), applied with git am onto --base")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios (default: all kernel primitives)")
	boots := fs.Int("boots", 6, "boots of each kernel, alternated (at least 5 for p ≤ 0.01)")
	var lf labFlags
	lf.register(fs, l.find(), "report directory (default: results/ci/<UTC stamp> in the source tree)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	switch {
	case fs.NArg() > 0:
		return usagef("ci takes no arguments, got %q", fs.Args())
	case lf.repo == "" || *base == "":
		return usagef("ci needs --tree DIR and --base REF")
	case (*head == "") == (*patches == ""):
		return usagef("ci needs one of --head REF and --patches DIR")
	case *boots < 1:
		return usagef("--boots must be at least 1")
	}
	co, traced, err := lf.resolve()
	if err != nil {
		return err
	}
	names, err := ciScenarios(*scenarios)
	if err != nil {
		return err
	}
	if err := l.open(stderr); err != nil {
		return err
	}
	outDir, err := l.outDir(lf.out, "ci", matrix.Stamp(time.Now()))
	if err != nil {
		return err
	}
	w, err := l.workspace(ctx, lf.repo)
	if err != nil {
		return err
	}
	defer w.Close()
	b, m, err := l.onTree(ctx, w, names, lf.vf)
	if err != nil {
		return err
	}
	res, err := ci.Run(ctx, ci.Options{
		Work: w, Base: *base, Head: *head, Patches: *patches, Boots: *boots, Compare: co,
		Builder: b, Measurer: m, Explain: traced, Out: outDir, Progress: stderr,
	})
	if err != nil {
		return ciError(ctx, err)
	}
	if err := res.Write(stdout, "text"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nreports: %s, %s, %s\n", res.Markdown, res.JUnit, res.Text)
	if err := gateError(res.Report); err != nil {
		return fmt.Errorf("head %.12s against base %.12s: %w (see %s)", res.Head, res.Base, err, res.Markdown)
	}
	return nil
}

// ciError classifies a failed ci.Run: a kernel that could not be built or
// booted, or anything else of the machine's, is a setup error, a bad ref
// or patch series the user's.
func ciError(ctx context.Context, err error) error {
	var ie *ci.InfraError
	var ge *tree.GitError
	switch {
	case errors.As(err, &ie):
		return setupError{err}
	case ctx.Err() != nil:
		return err
	case errors.As(err, &ge):
		return usageError{err}
	}
	return setupError{err}
}

// ciScenarios: the named scenarios, or every kernel primitive.
func ciScenarios(list string) ([]string, error) {
	if list == "" {
		return plan.Primitives(), nil
	}
	return parseScenarios(list)
}
