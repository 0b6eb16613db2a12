package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"coldstart/harness/guestimage"
	"coldstart/harness/initramfs"
	"coldstart/harness/kernels"
	"coldstart/harness/matrix"
	"coldstart/harness/results"
	"coldstart/harness/tree"
	"coldstart/plan"
)

// lab is what matrix, ci and bisect stand on: the coldstart source tree
// and the cache, the kernels (selected from kernels/ and fetched, or built
// from the commits of a tree), the initramfs, the accelerator and the
// baselines. Each command opens one after its flags are checked and asks
// it for what it needs, in its own order.
//
// It lives here, not in a harness package, because what it adds to the
// harness packages it calls is the command line's: flag defaults in the
// source tree, and which failure is the user's (a usage error) and which
// the machine's (a setup error), which decides the exit status.
//
// Tests replace image, builder and measurer.
type lab struct {
	src, cache string
	srcErr     error
	stderr     io.Writer

	// image builds the initramfs: guestimage.Build.
	image func(context.Context, guestimage.Options) (*guestimage.Image, error)
	// builder builds the kernels of w's commits (ci, bisect).
	builder func(l *lab, w *tree.Workspace, vf vmFlags) tree.Builder
	// measurer boots them, with an initramfs for scenarios.
	measurer func(ctx context.Context, l *lab, scenarios []string, vf vmFlags) (tree.Measurer, error)
}

func realLab() lab { return labBuilding(guestimage.Build) }

// labBuilding is the real lab, with build making the initramfs.
func labBuilding(build func(context.Context, guestimage.Options) (*guestimage.Image, error)) lab {
	return lab{image: build, builder: kernelBuilder, measurer: qemuMeasurer}
}

// find looks for the source tree. Flag defaults name files in it, so it
// is looked for before the flags are parsed; a failure waits for open, so
// that a mistake in the flags is reported first.
func (l *lab) find() string {
	l.src, l.srcErr = sourceDir()
	return l.src
}

// open finds the source tree (unless find did) and the cache.
func (l *lab) open(stderr io.Writer) error {
	if l.src == "" && l.srcErr == nil {
		l.find()
	}
	if l.srcErr != nil {
		return setupError{l.srcErr}
	}
	cache, err := kernels.DefaultCacheDir()
	if err != nil {
		return setupError{err}
	}
	l.cache, l.stderr = cache, stderr
	return nil
}

// outDir is dir, or results/<def...> in the source tree, made and proven
// writable.
func (l *lab) outDir(dir string, def ...string) (string, error) {
	if dir == "" {
		dir = filepath.Join(append([]string{l.src, "results"}, def...)...)
	}
	if err := checkWritable(dir); err != nil {
		return "", setupError{err}
	}
	return dir, nil
}

// fetch fetches the kernel of each target that has no image yet.
func (l *lab) fetch(ctx context.Context, targets []matrix.Target) error {
	fetcher := &kernels.Fetcher{CacheDir: l.cache, Progress: prefixWriter(l.stderr, "kernels: ")}
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
	return nil
}

// initramfs builds (or finds in the cache) the initramfs that serves
// scenarios, saying so on log.
func (l *lab) initramfs(ctx context.Context, scenarios []string, log io.Writer) (*guestimage.Image, error) {
	start := time.Now()
	ir, err := l.image(ctx, guestimage.Options{Source: l.src, Cache: l.cache, Scenarios: scenarios})
	if err != nil {
		return nil, setupError{err}
	}
	how := "built"
	if ir.Hit {
		how = "cached"
	}
	fmt.Fprintf(log, "initramfs %s (%s) in %v\n", how, filepath.Base(ir.Path), time.Since(start).Round(time.Millisecond))
	for _, n := range ir.Notes {
		fmt.Fprintf(log, "initramfs: %s\n", n)
	}
	return ir, nil
}

// accel is the accelerator asked for, or with "auto" the probe's answer
// for t's kernel (kept in the cache).
func (l *lab) accel(ctx context.Context, want string, t matrix.Target, initrd string, cpus, memoryMB int) string {
	if want != "auto" {
		return want
	}
	accel, why := matrix.ProbeAccel(ctx, t, initrd, cpus, memoryMB, l.cache)
	fmt.Fprintf(l.stderr, "accelerator: %s (%s)\n", accel, why)
	return accel
}

// baselines are the baselines of targets in *dir (results/baselines in the
// source tree when ""; *dir is set to the directory read), with a warning
// when there are none.
func (l *lab) baselines(dir *string, given bool, targets []matrix.Target) (map[string]*results.File, error) {
	if *dir == "" {
		*dir = filepath.Join(l.src, "results", "baselines")
	}
	out, err := loadBaselines(*dir, targets, given)
	if err == nil && len(out) == 0 {
		fmt.Fprintf(l.stderr, "warning: no baseline in %s for any of these kernels: nothing will be compared\n", *dir)
	}
	return out, err
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

// workspace opens the private clone of the tree at repo; release it with
// Close.
func (l *lab) workspace(ctx context.Context, repo string) (*tree.Workspace, error) {
	w, err := tree.OpenWorkspace(ctx, repo, l.cache)
	if err != nil {
		return nil, usageError{err}
	}
	return w, nil
}

// kernelBuilder builds w's commits with the fragment, under one build name
// for the tree: ci and bisect share it, so a ci run after a bisect of the
// same tree (or the other way round) reuses the build directory and every
// image already built, instead of starting from scratch under a second
// name.
func kernelBuilder(l *lab, w *tree.Workspace, vf vmFlags) tree.Builder {
	return &tree.KernelBuilder{Fetcher: &kernels.Fetcher{CacheDir: l.cache, Jobs: vf.makeJobs}, Fragment: vf.fragment,
		Name: "kernel-" + sanitize(filepath.Base(w.Repo))}
}

// qemuMeasurer boots kernels one at a time with an initramfs for
// scenarios, probing the accelerator with the first kernel it boots (the
// kernels are not built yet).
func qemuMeasurer(ctx context.Context, l *lab, scenarios []string, vf vmFlags) (tree.Measurer, error) {
	// ci and bisect have never said how the initramfs came to be; keep
	// their output as it is.
	ir, err := l.initramfs(ctx, scenarios, io.Discard)
	if err != nil {
		return nil, err
	}
	return &tree.QEMUMeasurer{Initrd: ir.Path,
		Plan:  plan.Plan{Scenarios: scenarios, Iterations: vf.iterations, Warmups: vf.warmups, SlowIterations: vf.slowIters, SlowWarmups: vf.slowWarm},
		Accel: vf.accel, Clock: vf.clock, CPUs: vf.cpus, MemoryMB: vf.memory, Deadlines: matrix.DefaultDeadlines(),
		Progress: prefixWriter(l.stderr, "  "), CacheDir: l.cache}, nil
}

// onTree returns the builder and the measurer of w's commits, the
// measurer with an initramfs for scenarios: ci's and bisect's lab.
func (l *lab) onTree(ctx context.Context, w *tree.Workspace, scenarios []string, vf vmFlags) (tree.Builder, tree.Measurer, error) {
	m, err := l.measurer(ctx, l, scenarios, vf)
	if err != nil {
		return nil, nil, err
	}
	return l.builder(l, w, vf), m, nil
}

// selectKernels are the kernels mf names: the ad-hoc image of
// --kernel-file, or kernel files of --kernels-dir (kernels/ in src): those
// --kernels names, all of them, or the default matrix.
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
		ks, err := kernels.LookupAll(all, strings.TrimSpace(n))
		if err != nil {
			return nil, usageError{err}
		}
		for _, k := range ks {
			ts = append(ts, matrix.Target{Kernel: k})
		}
	}
	return ts, nil
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
