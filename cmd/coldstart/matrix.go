package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"coldstart/harness/compare"
	"coldstart/harness/guestimage"
	"coldstart/harness/initramfs"
	"coldstart/harness/kernels"
	"coldstart/harness/matrix"
	"coldstart/harness/qemu"
	"coldstart/harness/results"
	"coldstart/plan"
	"coldstart/stats"
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

func runMatrix(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	var mf matrixFlags
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&mf.kernels, "kernels", "", "comma-separated kernel names from the kernels directory, or all (default: the default matrix, the files without default = false)")
	fs.StringVar(&mf.kernelFile, "kernel-file", "", "an ad-hoc kernel image (bzImage or vmlinux) to run instead")
	fs.StringVar(&mf.kernelsDir, "kernels-dir", "", "directory of kernel files (default: kernels/ in the source tree)")
	fs.StringVar(&mf.scenarios, "scenarios", "", "comma-separated scenarios, or all (default: the kernel primitives, seccomp steps and container runs, but oci-run/runc/none)")
	fs.IntVar(&mf.boots, "boots", 5, "boots per kernel (each boot is one unit of replication; 5 is the fewest with which a comparison can reach p ≤ 0.01)")
	fs.IntVar(&mf.iterations, "iterations", 30, "timed iterations per scenario per boot")
	fs.IntVar(&mf.slowIters, "slow-iterations", 5, "timed iterations of the scenarios that run whole programs (oci-run/*, isolation/*, seccomp-*); 0: same as --iterations")
	fs.IntVar(&mf.warmups, "warmups", 3, "untimed iterations before the timed ones")
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("matrix takes no arguments, got %q", fs.Args())
	}
	if mf.boots < 1 || mf.iterations < 1 || mf.warmups < 0 || mf.slowIters < 0 || mf.slowWarm < 0 || mf.trace < 0 {
		return usagef("--boots and --iterations must be at least 1, --warmups, --slow-iterations and --slow-warmups at least 0")
	}
	if mf.cpus < 1 {
		return usagef("--cpus must be at least 1")
	}
	baselinesGiven, adaptiveGiven := false, false
	fs.Visit(func(f *flag.Flag) {
		baselinesGiven = baselinesGiven || f.Name == "baselines"
		adaptiveGiven = adaptiveGiven || f.Name == "adaptive"
	})
	if mf.tcgThread != "multi" && mf.tcgThread != "single" {
		return usagef("--tcg-thread %q: want multi or single", mf.tcgThread)
	}
	switch mf.accel {
	case "auto", qemu.AccelKVM, qemu.AccelTCG:
	default:
		return usagef("--accel %q: want auto, kvm or tcg", mf.accel)
	}
	if mf.cpus < 2 {
		fmt.Fprintln(stderr, "warning: with one vCPU, kernels before about 5.17 skip RCU grace periods, hiding the regressions coldstart looks for")
	}
	shard, err := matrix.ParseShard(mf.shard)
	if err != nil {
		return usageError{err}
	}
	if mf.resume != "" {
		if err := planFromRun(fs, &mf); err != nil {
			return err
		}
	}
	// A run that ends in verdicts adds boots while they are unknown,
	// unless told not to: 5 new boots against a 20-boot baseline find a
	// 20% step only about a third of the time even at a 5% boot spread;
	// adding boots up to 15 finds 95% of them (harness/compare
	// TestAdaptiveRates).
	if baselinesGiven && !adaptiveGiven && mf.resume == "" && shard.IsZero() {
		mf.adaptive = true
	}
	if mf.adaptive {
		if mf.maxBoots < mf.boots {
			return usagef("--max-boots %d is fewer than --boots %d", mf.maxBoots, mf.boots)
		}
		if !shard.IsZero() {
			return usagef("--adaptive needs every boot of a kernel in one run: it does not go with --shard")
		}
	}
	rule, err := mf.compare.options()
	if err != nil {
		return err
	}
	scenarios, err := parseScenarios(mf.scenarios)
	if err != nil {
		return err
	}
	var appendWords []string
	if mf.appendArgs != "" {
		appendWords = strings.Fields(mf.appendArgs)
		for _, w := range appendWords {
			if strings.HasPrefix(w, plan.Prefix) {
				return usagef("--append %q: coldstart.* words are the harness's own; use the matrix flags", w)
			}
		}
	}

	ctx, cancel := context.WithTimeout(ctx, mf.timeout)
	defer cancel()

	src, err := sourceDir()
	if err != nil {
		return setupError{err}
	}
	cache, err := kernels.DefaultCacheDir()
	if err != nil {
		return setupError{err}
	}
	outDir := mf.out
	if outDir == "" {
		outDir = filepath.Join(src, "results", "runs", matrix.Stamp(time.Now()))
	}
	if err := checkWritable(outDir); err != nil {
		return setupError{err}
	}

	// Kernels first: a typo in a name must fail before any slow work.
	targets, err := selectKernels(mf, src)
	if err != nil {
		return err
	}
	var baselines map[string]*results.File
	compared := mf.adaptive || baselinesGiven
	if compared {
		if mf.baselines == "" {
			mf.baselines = filepath.Join(src, "results", "baselines")
		}
		if baselines, err = loadBaselines(mf.baselines, targets, baselinesGiven); err != nil {
			return err
		}
		if len(baselines) == 0 {
			fmt.Fprintf(stderr, "warning: no baseline in %s for any of these kernels: nothing will be compared\n", mf.baselines)
		}
	}
	fetcher := &kernels.Fetcher{CacheDir: cache, Progress: prefixWriter(stderr, "kernels: ")}
	for i := range targets {
		t := &targets[i]
		if t.Image != nil {
			continue
		}
		im, err := fetcher.Fetch(ctx, t.Kernel)
		if err != nil {
			return setupError{fmt.Errorf("kernel %s: %w", t.Kernel.Name, err)}
		}
		t.Image = im
	}

	start := time.Now()
	ir, err := guestimage.Build(ctx, guestimage.Options{Source: src, Cache: cache, Scenarios: scenarios})
	if err != nil {
		return setupError{err}
	}
	how := "built"
	if ir.Hit {
		how = "cached"
	}
	fmt.Fprintf(stderr, "initramfs %s (%s) in %v\n", how, filepath.Base(ir.Path), time.Since(start).Round(time.Millisecond))
	for _, n := range ir.Notes {
		fmt.Fprintf(stderr, "initramfs: %s\n", n)
	}

	accel := mf.accel
	if accel == "auto" {
		var why string
		accel, why = matrix.ProbeAccel(ctx, targets[0], ir.Path, mf.cpus, mf.memory, cache)
		fmt.Fprintf(stderr, "accelerator: %s (%s)\n", accel, why)
	}

	fmt.Fprintf(stderr, "run directory: %s\n", outDir)
	dl := matrix.DefaultDeadlines()
	dl.Hello, dl.Scenario = mf.helloTO, mf.scenarioTO
	mo := matrix.Options{
		Targets: targets, Initrd: ir.Path,
		Plan:  plan.Plan{Scenarios: scenarios, Boots: mf.boots, Iterations: mf.iterations, SlowIterations: mf.slowIters, Trace: mf.trace, Warmups: mf.warmups, SlowWarmups: mf.slowWarm},
		Accel: accel, TCGThread: mf.tcgThread, CPUs: mf.cpus, MemoryMB: mf.memory, Append: appendWords,
		Deadlines: dl, OutDir: outDir, Progress: stderr,
		Jobs: mf.jobs, Shard: shard, Resume: mf.resume != "",
	}
	overall := rule.Alpha
	if mf.adaptive {
		mo.Adaptive = &matrix.Adaptive{Baselines: baselines, MaxBoots: mf.maxBoots, Compare: rule}
		rule = mo.Adaptive.Rule(mf.boots)
	}
	files, runErr := matrix.Run(ctx, mo)
	for _, f := range files {
		fmt.Fprintln(stdout)
		if err := matrix.WriteTable(stdout, f); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout)
	if err := matrix.WriteTimes(stdout, files); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", outDir)
	if !compared || ctx.Err() != nil {
		return runErr
	}
	r, none := matrix.Verdicts(files, baselines, rule)
	r.Base, r.New = mf.baselines, outDir
	if mf.adaptive {
		r.Notes = append(r.Notes, fmt.Sprintf("adaptive: boots were added while a verdict was unknown, up to %d a kernel; each look used α = %.2g, so that all looks together keep %g",
			mf.maxBoots, rule.Alpha, overall))
	}
	if err := writeVerdicts(stdout, r, none); err != nil {
		return err
	}
	if r.Regressed() {
		var which []string
		for _, row := range r.Rows {
			if row.Verdict == stats.Regressed {
				which = append(which, row.Scenario+" on "+row.Kernel)
			}
		}
		return errors.Join(runErr, fmt.Errorf("%w against the baselines in %s: %s", errRegressed, mf.baselines, strings.Join(which, ", ")))
	}
	return runErr
}

// loadBaselines reads dir/<kernel>.json for each target that has one. A
// missing directory is an error only when it was asked for by name.
func loadBaselines(dir string, targets []matrix.Target, given bool) (map[string]*results.File, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if given {
			return nil, usagef("--baselines %s: not a directory", dir)
		}
		return nil, nil
	}
	out := map[string]*results.File{}
	for _, t := range targets {
		p := filepath.Join(dir, t.Kernel.Name+".json")
		f, err := results.Read(p)
		switch {
		case err == nil:
			out[t.Kernel.Name] = f
		case errors.Is(err, os.ErrNotExist):
		default:
			return nil, usagef("baseline %s: %v", p, err)
		}
	}
	return out, nil
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

func selectKernels(mf matrixFlags, src string) ([]matrix.Target, error) {
	if mf.kernelFile != "" {
		if mf.kernels != "" {
			return nil, usagef("give --kernels or --kernel-file, not both")
		}
		cache, err := kernels.DefaultCacheDir()
		if err != nil {
			return nil, setupError{err}
		}
		im, err := kernels.ImageFromFile(context.Background(), mf.kernelFile, cache)
		if err != nil {
			return nil, usageError{fmt.Errorf("--kernel-file: %w", err)}
		}
		k := kernels.Kernel{Name: "file-" + sanitize(filepath.Base(mf.kernelFile)), Source: kernels.SourceFile, Version: im.Release}
		return []matrix.Target{{Kernel: k, Image: im}}, nil
	}
	dir := mf.kernelsDir
	if dir == "" {
		dir = filepath.Join(src, "kernels")
	}
	all, err := kernels.Load(dir)
	if err != nil {
		return nil, usageError{err}
	}
	if len(all) == 0 {
		return nil, usagef("no kernel files in %s: add one (see kernels/README.md) or use --kernel-file", dir)
	}
	var ts []matrix.Target
	if mf.kernels == "" || mf.kernels == "all" {
		for _, k := range all {
			if k.Default || mf.kernels == "all" {
				ts = append(ts, matrix.Target{Kernel: k})
			}
		}
		if len(ts) == 0 {
			return nil, usagef("no kernel file in %s is in the default matrix: give --kernels NAME,... or --kernels all", dir)
		}
		return ts, nil
	}
	for _, n := range strings.Split(mf.kernels, ",") {
		k, err := kernels.Lookup(all, strings.TrimSpace(n))
		if err != nil {
			return nil, usageError{err}
		}
		ts = append(ts, matrix.Target{Kernel: k})
	}
	return ts, nil
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

// sourceDir is the coldstart source tree: the guest agent is built from it.
func sourceDir() (string, error) {
	if d := os.Getenv("COLDSTART_SRC"); d != "" {
		return initramfs.ModuleRoot(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return initramfs.ModuleRoot(wd)
}

// checkWritable makes dir and proves a file can be written there, before
// any boot: a run must not fail at its end for want of a place to put it.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory %s: %w (choose another with --out)", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable: %w (choose another with --out)", dir, err)
	}
	_, werr := f.Write(make([]byte, 64<<10))
	f.Close()
	os.Remove(f.Name())
	if werr != nil {
		return fmt.Errorf("output directory %s: cannot write 64 KiB: %w (disk full? choose another with --out)", dir, werr)
	}
	return nil
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
