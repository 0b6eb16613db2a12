package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"coldstart/harness/compare"
	"coldstart/harness/machine"
	"coldstart/harness/matrix"
	"coldstart/harness/qemu"
	"coldstart/harness/results"
	"coldstart/plan"
)

type matrixFlags struct {
	kernels    string
	kernelFile string
	kernelsDir string
	scenarios  string
	boots      int
	iterations int
	slowIters  int
	slowWarm   int
	trace      int
	tcgThread  string
	clock      string
	warmups    int
	out        string
	accel      string
	cpus       int
	memory     int
	appendArgs string
	timeout    time.Duration
	helloTO    time.Duration
	scenarioTO time.Duration
	jobs       int
	shard      string
	resume     string
	adaptive   bool
	maxBoots   int
	baselines  string
	compare    compareFlags
}

// register declares matrix's flags.
func (mf *matrixFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&mf.kernels, "kernels", "", "comma-separated kernel names from the kernels directory, or all (default: the default matrix, the files without default = false)")
	fs.StringVar(&mf.kernelFile, "kernel-file", "", "an ad-hoc kernel image (bzImage or vmlinux) to run instead")
	fs.StringVar(&mf.kernelsDir, "kernels-dir", "", "directory of kernel files (default: kernels/ in the source tree)")
	fs.StringVar(&mf.scenarios, "scenarios", "", "comma-separated scenarios, or all (default: the kernel primitives, seccomp steps and container runs, but oci-run/runc/none)")
	fs.IntVar(&mf.boots, "boots", 5, "boots per kernel (each boot is one unit of replication; 5 is the fewest with which a comparison can reach p ≤ 0.01)")
	fs.IntVar(&mf.iterations, "iterations", 30, "timed iterations per scenario per boot")
	fs.IntVar(&mf.slowIters, "slow-iterations", 5, "timed iterations of the scenarios that run whole programs (oci-run/*, isolation/*, seccomp-*); 0: same as --iterations")
	fs.IntVar(&mf.warmups, "warmups", 3, "untimed iterations before the timed ones")
	fs.StringVar(&mf.clock, "clock", qemu.ClockWall, "the guest's clock: wall (runs with the host's; host load moves timings) or virtual\n(QEMU's instruction count, idle skipped: host load cannot move it; TCG, one vCPU, kernels 5.17 and later)")
	fs.IntVar(&mf.slowWarm, "slow-warmups", 1, "untimed iterations of the scenarios that run whole programs (oci-run/*, isolation/*, seccomp-*): one fills the caches; 0: same as --warmups")
	fs.IntVar(&mf.trace, "trace", 0, "after the timed iterations, trace this many more per scenario with function_graph (for coldstart explain)")
	fs.StringVar(&mf.out, "out", "", "run directory (default: results/runs/<UTC stamp> in the source tree)")
	fs.StringVar(&mf.accel, "accel", "auto", "auto (KVM if a probe boot works, else TCG), kvm or tcg")
	fs.StringVar(&mf.tcgThread, "tcg-thread", "single", "under TCG, single (all vCPUs on one host thread; the guest still has --cpus CPUs) or multi (a thread per vCPU: faster, but guests that patch their own code, as 6.12+ do when runc starts, hit int3 Oopses in about half the boots)")
	fs.IntVar(&mf.cpus, "cpus", 2, "guest vCPUs (at least 2: on one CPU older kernels skip RCU grace periods)")
	fs.IntVar(&mf.memory, "memory", 1024, "guest memory in MiB")
	fs.StringVar(&mf.appendArgs, "append", "", "extra kernel command-line words")
	fs.DurationVar(&mf.timeout, "timeout", 3*time.Hour, "deadline for the whole run")
	fs.DurationVar(&mf.helloTO, "hello-timeout", matrix.DefaultDeadlines().Hello, "deadline from QEMU's launch to the agent's first event")
	fs.DurationVar(&mf.scenarioTO, "scenario-timeout", matrix.DefaultDeadlines().Scenario, "deadline for one scenario in one boot")
	fs.IntVar(&mf.jobs, "jobs", 0, "VMs at once (default: host CPUs / --cpus, so that VMs do not compete for cores and skew timings)")
	fs.StringVar(&mf.shard, "shard", "", "run only slice i/n of the kernel x boot units (join shards with coldstart merge)")
	fs.StringVar(&mf.resume, "resume", "", "finish the interrupted run in this directory: its plan is reused and good boots are kept")
	fs.BoolVar(&mf.adaptive, "adaptive", false, "after the planned boots, compare each kernel with its baseline and add one boot at a time to kernels with an unknown verdict, up to --max-boots; print the verdicts and exit 1 on a regression\n(on by default with --baselines, except with --shard or --resume; --adaptive=false compares the planned boots only)")
	fs.IntVar(&mf.maxBoots, "max-boots", 15, "with --adaptive, the most boots a kernel gets")
	fs.StringVar(&mf.baselines, "baselines", "", "directory of baselines, <kernel>.json (default: results/baselines in the source tree); given, or with --adaptive, the run ends with the verdicts against them and exits 1 on a regression;\ngiven, the run is adaptive unless --adaptive=false")
	mf.compare.register(fs)
}

// matrixRun is what matrix's flags resolve to, before any slow work.
type matrixRun struct {
	plan      plan.Plan
	shard     matrix.Shard
	rule      compare.Options
	appendW   []string
	compared  bool // the run ends with verdicts against baselines
	baselines bool // --baselines was given
}

// resolve checks the flags (filling them from the run with --resume) and
// says what the run is.
func (mf *matrixFlags) resolve(fs *flag.FlagSet, stderr io.Writer) (*matrixRun, error) {
	if fs.NArg() > 0 {
		return nil, usagef("matrix takes no arguments, got %q", fs.Args())
	}
	if mf.boots < 1 || mf.iterations < 1 || mf.warmups < 0 || mf.slowIters < 0 || mf.slowWarm < 0 || mf.trace < 0 {
		return nil, usagef("--boots and --iterations must be at least 1, --warmups, --slow-iterations and --slow-warmups at least 0")
	}
	if mf.cpus < 1 {
		return nil, usagef("--cpus must be at least 1")
	}
	adaptiveGiven := false
	r := &matrixRun{}
	fs.Visit(func(f *flag.Flag) {
		r.baselines = r.baselines || f.Name == "baselines"
		adaptiveGiven = adaptiveGiven || f.Name == "adaptive"
	})
	if mf.tcgThread != "multi" && mf.tcgThread != "single" {
		return nil, usagef("--tcg-thread %q: want multi or single", mf.tcgThread)
	}
	switch mf.accel {
	case "auto", qemu.AccelKVM, qemu.AccelTCG:
	default:
		return nil, usagef("--accel %q: want auto, kvm or tcg", mf.accel)
	}
	if mf.cpus < 2 && mf.clock != qemu.ClockVirtual {
		fmt.Fprintln(stderr, "warning: with one vCPU, kernels before about 5.17 skip RCU grace periods, hiding the regressions coldstart looks for")
	}
	var err error
	if r.shard, err = matrix.ParseShard(mf.shard); err != nil {
		return nil, usageError{err}
	}
	if mf.resume != "" {
		if err := planFromRun(fs, mf); err != nil {
			return nil, err
		}
	}
	if err := mf.resolveClock(fs); err != nil {
		return nil, err
	}
	// A run that ends in verdicts adds boots while they are unknown,
	// unless told not to: 5 new boots against a 20-boot baseline find a
	// 20% step only about a third of the time even at a 5% boot spread;
	// adding boots up to 15 finds 95% of them (harness/compare
	// TestAdaptiveRates).
	if r.baselines && !adaptiveGiven && mf.resume == "" && r.shard.IsZero() {
		mf.adaptive = true
	}
	if mf.adaptive {
		if mf.maxBoots < mf.boots {
			return nil, usagef("--max-boots %d is fewer than --boots %d", mf.maxBoots, mf.boots)
		}
		if !r.shard.IsZero() {
			return nil, usagef("--adaptive needs every boot of a kernel in one run: it does not go with --shard")
		}
	}
	if r.rule, err = mf.compare.options(); err != nil {
		return nil, err
	}
	scenarios, err := parseScenarios(mf.scenarios)
	if err != nil {
		return nil, err
	}
	if mf.appendArgs != "" {
		r.appendW = strings.Fields(mf.appendArgs)
		for _, w := range r.appendW {
			if strings.HasPrefix(w, plan.Prefix) {
				return nil, usagef("--append %q: coldstart.* words are the harness's own; use the matrix flags", w)
			}
		}
	}
	r.plan = plan.Plan{Scenarios: scenarios, Boots: mf.boots, Iterations: mf.iterations, SlowIterations: mf.slowIters, Trace: mf.trace, Warmups: mf.warmups, SlowWarmups: mf.slowWarm}
	r.compared = mf.adaptive || r.baselines
	return r, nil
}

func runMatrix(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	var mf matrixFlags
	fs := newFlagSet("matrix", "", stderr)
	mf.register(fs)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	mr, err := mf.resolve(fs, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, mf.timeout)
	defer cancel()

	l := realLab()
	if err := l.open(stderr); err != nil {
		return err
	}
	outDir, err := l.outDir(mf.out, "runs", matrix.Stamp(time.Now()))
	if err != nil {
		return err
	}
	// Kernels first: a typo in a name must fail before any slow work.
	targets, err := selectKernels(mf, l.src)
	if err == nil {
		err = checkClockKernels(mf.clock, targets)
	}
	if err != nil {
		return err
	}
	var baselines map[string]*results.File
	if mr.compared {
		if baselines, err = l.baselines(&mf.baselines, mr.baselines, targets); err != nil {
			return err
		}
	}
	if err := l.fetch(ctx, targets); err != nil {
		return err
	}
	ir, err := l.initramfs(ctx, mr.plan.Scenarios, stderr)
	if err != nil {
		return err
	}
	accel := l.accel(ctx, mf.accel, targets[0], ir.Path, mf.cpus, mf.memory)
	host := machine.Detect("", accel, mf.cpus, mf.memory)
	if err := baselinesFit(baselines, targets, host, mr.rule.AnyHost, stderr); err != nil {
		return err
	}

	fmt.Fprintf(stderr, "run directory: %s\n", outDir)
	dl := matrix.DefaultDeadlines()
	dl.Hello, dl.Scenario = mf.helloTO, mf.scenarioTO
	mo := matrix.Options{
		Targets: targets, Initrd: ir.Path, Plan: mr.plan,
		Accel: accel, TCGThread: mf.tcgThread, Clock: mf.clock, CPUs: mf.cpus, MemoryMB: mf.memory, Append: mr.appendW,
		Deadlines: dl, OutDir: outDir, Progress: stderr,
		Jobs: mf.jobs, Shard: mr.shard, Resume: mf.resume != "", Machine: host,
	}
	rule := mr.rule
	if mf.adaptive {
		mo.Adaptive = &matrix.Adaptive{Baselines: baselines, MaxBoots: mf.maxBoots, Compare: rule}
		rule = mo.Adaptive.Rule(mf.boots)
	}
	files, runErr := matrix.Run(ctx, mo)
	if err := writeMatrix(stdout, files, outDir); err != nil {
		return err
	}
	if !mr.compared || ctx.Err() != nil {
		return runErr
	}
	r, none := matrix.Verdicts(files, baselines, rule)
	r.Base, r.New = mf.baselines, outDir
	if mf.adaptive {
		r.Notes = append(r.Notes, fmt.Sprintf("adaptive: boots were added while a verdict was unknown, up to %d a kernel; each look used α = %.2g, so that all looks together keep %g",
			mf.maxBoots, rule.Alpha, mr.rule.Alpha))
	}
	if err := writeVerdicts(stdout, r, none); err != nil {
		return err
	}
	if err := gateError(r); err != nil {
		return errors.Join(runErr, fmt.Errorf("against the baselines in %s: %w", mf.baselines, err))
	}
	return runErr
}

// baselinesFit refuses, before any boot, baselines the run could not be
// compared with: from another accelerator, or (without --any-host)
// another machine class (compare.MachineGate, the gate's own rule);
// otherwise an adaptive run would boot up to --max-boots times for a
// verdict the gate then refuses. Lesser differences are warned about.
func baselinesFit(baselines map[string]*results.File, targets []matrix.Target, host *machine.Fingerprint, anyHost bool, stderr io.Writer) error {
	var refused []string
	for _, t := range targets {
		b := baselines[t.Kernel.Name]
		if b == nil {
			continue
		}
		refused1, warnings := compare.MachineGate(b, &results.File{Kernel: b.Kernel, Accel: host.Accel, Machine: host}, "baseline", "this machine", anyHost)
		if refused1 != "" {
			refused = append(refused, t.Kernel.Name+": "+refused1)
		}
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s: %s\n", t.Kernel.Name, w)
		}
	}
	if len(refused) > 0 {
		return setupError{fmt.Errorf("%w before booting: %s", compare.ErrRefused, strings.Join(refused, "; "))}
	}
	return nil
}

// writeMatrix prints a table per kernel, the run's times and where its
// results are.
func writeMatrix(w io.Writer, files []*results.File, outDir string) error {
	for _, f := range files {
		fmt.Fprintln(w)
		if err := matrix.WriteTable(w, f); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if err := matrix.WriteTimes(w, files); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nresults: %s\n", outDir)
	return nil
}

// writeVerdicts prints the comparison of a run with its baselines in
// compare's text format, then the kernels that have none.
func writeVerdicts(w io.Writer, r *compare.Report, none []string) error {
	fmt.Fprintln(w)
	if len(r.Rows) > 0 {
		if err := compare.WriteText(w, r); err != nil {
			return err
		}
	}
	for _, name := range none {
		fmt.Fprintf(w, "%s: no baseline, not compared\n", name)
	}
	return nil
}

func parseScenarios(list string) ([]string, error) {
	if list == "" {
		return plan.Default(), nil
	}
	if list == "all" {
		return plan.All(), nil
	}
	var names []string
	seen := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		if _, err := plan.Lookup(n); err != nil {
			if plan.KindOf(n) == plan.Primitive {
				err = fmt.Errorf("%w (and: %s, %s)", err, strings.Join(plan.SeccompSteps(), ", "), strings.Join(plan.ContainerRuns(), ", "))
			}
			return nil, usageError{err}
		}
		seen[n] = true
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, usagef("--scenarios %q names no scenario", list)
	}
	return names, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

type prefixed struct {
	w      io.Writer
	prefix string
}

func prefixWriter(w io.Writer, prefix string) io.Writer { return &prefixed{w, prefix} }

func (p *prefixed) Write(b []byte) (int, error) {
	lines := strings.SplitAfter(string(b), "\n")
	var sb strings.Builder
	for _, l := range lines {
		if l != "" {
			sb.WriteString(p.prefix + l)
		}
	}
	if _, err := io.WriteString(p.w, sb.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// planFromRun fills the matrix flags from an interrupted run directory, so
// that --resume needs nothing else. A flag given explicitly must agree with
// the run.
func planFromRun(fs *flag.FlagSet, mf *matrixFlags) error {
	paths, _ := filepath.Glob(filepath.Join(mf.resume, "*.json"))
	if len(paths) == 0 {
		return usagef("--resume %s: no result files there (is it a run directory?)", mf.resume)
	}
	if mf.out != "" && filepath.Clean(mf.out) != filepath.Clean(mf.resume) {
		return usagef("--resume writes into the run it resumes; drop --out")
	}
	mf.out = mf.resume
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var names []string
	var plan *results.Plan
	for _, p := range paths {
		f, err := results.Read(p)
		if err != nil {
			return usageError{fmt.Errorf("--resume: %w", err)}
		}
		if plan == nil {
			plan = &f.Plan
		}
		names = append(names, f.Kernel.Name)
	}
	want := map[string]string{
		"scenarios": strings.Join(plan.Scenarios, ","), "boots": fmt.Sprint(plan.Boots),
		"iterations": fmt.Sprint(plan.Iterations), "warmups": fmt.Sprint(plan.Warmups), "slow-iterations": fmt.Sprint(plan.SlowIterations), "slow-warmups": fmt.Sprint(plan.SlowWarmups), "trace": fmt.Sprint(plan.Trace),
		"cpus": fmt.Sprint(plan.CPUs), "memory": fmt.Sprint(plan.MemoryMB), "append": strings.Join(plan.Append, " "),
	}
	for name, v := range want {
		if set[name] && fs.Lookup(name).Value.String() != v {
			return usagef("--resume: the run used --%s %q; drop --%s or give the same value", name, v, name)
		}
	}
	mf.scenarios, mf.boots, mf.iterations, mf.warmups, mf.slowIters, mf.slowWarm = want["scenarios"], plan.Boots, plan.Iterations, plan.Warmups, plan.SlowIterations, plan.SlowWarmups
	mf.cpus, mf.memory, mf.appendArgs, mf.trace = plan.CPUs, plan.MemoryMB, want["append"], plan.Trace
	if set["clock"] && mf.clock != plan.ClockName() {
		return usagef("--resume: the run used --clock %s; drop --clock or give the same value", plan.ClockName())
	}
	mf.clock = plan.ClockName()
	if plan.TCGThread != "" {
		if set["tcg-thread"] && mf.tcgThread != plan.TCGThread {
			return usagef("--resume: the run used --tcg-thread %s; drop --tcg-thread or give the same value", plan.TCGThread)
		}
		mf.tcgThread = plan.TCGThread
	}
	switch {
	case plan.MaxBoots > 0 && set["adaptive"] && !mf.adaptive:
		return usagef("--resume: the run was adaptive (at most %d boots); drop --adaptive=false", plan.MaxBoots)
	case plan.MaxBoots > 0 && set["max-boots"] && mf.maxBoots != plan.MaxBoots:
		return usagef("--resume: the run used --max-boots %d; drop --max-boots or give the same value", plan.MaxBoots)
	case plan.MaxBoots > 0:
		mf.adaptive, mf.maxBoots = true, plan.MaxBoots
	case mf.adaptive:
		return usagef("--resume: the run was not adaptive; resume it without --adaptive")
	}
	if mf.kernels == "" && mf.kernelFile == "" {
		mf.kernels = strings.Join(names, ",")
	}
	return nil
}
