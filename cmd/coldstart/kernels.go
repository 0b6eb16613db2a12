package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"coldstart/harness/kernels"
)

const kernelsUsage = `usage:
  coldstart kernels list                       the kernels in kernels/: version, source, in the default matrix, cached or not, size
  coldstart kernels fetch [NAME...]            fetch (or build) and verify kernels into the cache (default: the default kernels)
  coldstart kernels build --tree DIR [--ref REF] [--config FRAG] [--name NAME] [--config-only]
                                               build a kernel from a source tree with a config fragment
  coldstart kernels check IMAGE                check that a file is a bootable kernel; show its config
  coldstart kernels update NAME...             re-pin kernels to the newest version of their series`

func runKernels(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, kernelsUsage)
		return usagef("kernels needs a subcommand: list, fetch, build, check or update")
	}
	src, err := sourceDir()
	if err != nil {
		return setupError{err}
	}
	cache, err := kernels.DefaultCacheDir()
	if err != nil {
		return setupError{err}
	}
	f := &kernels.Fetcher{CacheDir: cache, Progress: stderr, Interactive: interactive(stderr)}
	dir := filepath.Join(src, "kernels")
	load := func() ([]kernels.Kernel, error) {
		all, err := kernels.Load(dir)
		if err != nil {
			return nil, usageError{err}
		}
		return all, nil
	}
	pick := func(all []kernels.Kernel, names []string) ([]kernels.Kernel, error) {
		var out []kernels.Kernel
		for _, n := range names {
			k, err := kernels.Lookup(all, n)
			if err != nil {
				return nil, usageError{err}
			}
			out = append(out, k)
		}
		return out, nil
	}
	switch args[0] {
	case "list":
		if len(args) != 1 {
			return usagef("kernels list takes no arguments")
		}
		all, err := load()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tSOURCE\tDEFAULT\tCACHED\tSIZE\tPIN")
		for _, k := range all {
			st := f.Status(ctx, k)
			cached, size := "no", "-"
			if st.Cached {
				cached = "yes"
				size = fmt.Sprintf("%.1f MB", float64(st.Size)/1e6)
			}
			inDefault := "no"
			if k.Default {
				inDefault = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Version, k.Source, inDefault, cached, size, pinOf(k))
		}
		return tw.Flush()
	case "fetch":
		all, err := load()
		if err != nil {
			return err
		}
		names := args[1:]
		if len(names) == 0 {
			// The default kernels, those `matrix` runs: the others
			// are built from source (15-20 min each) or not yet
			// pinned, and are fetched by name.
			for _, k := range all {
				if k.Default {
					names = append(names, k.Name)
				}
			}
		}
		ks, err := pick(all, names)
		if err != nil {
			return err
		}
		for _, k := range ks {
			im, err := f.Fetch(ctx, k)
			if err != nil {
				return setupError{namedErr(k.Name, err)}
			}
			printImage(stdout, im)
		}
		return nil
	case "build":
		return runKernelsBuild(ctx, stdout, stderr, f, src, args[1:])
	case "check":
		if len(args) != 2 {
			return usagef("kernels check takes one image path")
		}
		im, err := kernels.ImageFromFile(ctx, args[1], cache)
		if err != nil {
			return usageError{fmt.Errorf("%s: %w", args[1], err)}
		}
		printImage(stdout, im)
		return nil
	case "update":
		if len(args) < 2 {
			return usagef("kernels update needs kernel names (see coldstart kernels list)")
		}
		all, err := load()
		if err != nil {
			return err
		}
		ks, err := pick(all, args[1:])
		if err != nil {
			return err
		}
		for _, k := range ks {
			r, err := f.Update(ctx, k)
			if errors.Is(err, kernels.ErrUpToDate) {
				fmt.Fprintf(stdout, "%s: up to date (%v)\n", k.Name, err)
				continue
			}
			if err != nil {
				return setupError{err}
			}
			if err := kernels.RewriteKernelFile(k.File, r.Changes); err != nil {
				return setupError{fmt.Errorf("kernel %s: %w", k.Name, err)}
			}
			fmt.Fprintf(stdout, "%s: re-pinned in %s:\n%s", k.Name, k.File, r)
			nk, err := kernels.LoadFile(k.File)
			if err != nil {
				return setupError{err}
			}
			im, err := f.Fetch(ctx, nk)
			if err != nil {
				return setupError{fmt.Errorf("the new pin does not fetch (restore the file with git checkout): %w", namedErr(k.Name, err))}
			}
			printImage(stdout, im)
		}
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, kernelsUsage)
		return nil
	default:
		fmt.Fprintln(stderr, kernelsUsage)
		return usagef("unknown kernels subcommand %q: want list, fetch, build, check or update", args[0])
	}
}

func runKernelsBuild(ctx context.Context, stdout, stderr io.Writer, f *kernels.Fetcher, src string, args []string) error {
	fs := newFlagSet("kernels build", "", stderr)
	tree := fs.String("tree", "", "kernel source tree (a directory, or a git repository with --ref)")
	ref := fs.String("ref", "", "git ref in --tree to build (exported with git archive; the tree is not touched)")
	frag := fs.String("config", filepath.Join(src, "kernels", kernels.DefaultFragment), "config fragment applied on top of make tinyconfig")
	name := fs.String("name", "", "cache name (default: build-<tree directory name>)")
	configOnly := fs.Bool("config-only", false, "stop after make olddefconfig and the fragment check (about a minute)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if *tree == "" || fs.NArg() > 0 {
		return usagef("kernels build needs --tree DIR and takes no arguments")
	}
	abs, err := filepath.Abs(*tree)
	if err != nil {
		return usageError{err}
	}
	fragAbs, err := filepath.Abs(*frag)
	if err != nil {
		return usageError{err}
	}
	n := *name
	if n == "" {
		n = "build-" + strings.ToLower(sanitize(filepath.Base(abs)))
		if *ref != "" {
			n += "-" + strings.ToLower(sanitize(*ref))
		}
	}
	k := kernels.Kernel{Name: n, Version: "0", Source: kernels.SourceBuild,
		Build: &kernels.Build{Tree: abs, Ref: *ref, Config: fragAbs}}
	if *configOnly {
		if *ref != "" {
			return usagef("--config-only works on a directory; export the ref first (git worktree add)")
		}
		cfg, _, err := f.Configure(ctx, kernels.BuildSpec{Name: n, Tree: abs, Fragment: fragAbs})
		if err != nil {
			return usageError{err}
		}
		fmt.Fprintf(stdout, "%s: every required option of %s survived; config in %s\n", n, fragAbs, cfg)
		return nil
	}
	im, err := f.Fetch(ctx, k)
	if err != nil {
		var fe *kernels.FragmentError
		if errors.As(err, &fe) {
			return usageError{err}
		}
		return setupError{err}
	}
	printImage(stdout, im)
	return nil
}

// namedErr prefixes err with the kernel's name unless it already says it.
func namedErr(name string, err error) error {
	if strings.Contains(err.Error(), "kernel "+name) {
		return err
	}
	return fmt.Errorf("kernel %s: %w", name, err)
}

func pinOf(k kernels.Kernel) string {
	switch {
	case k.Debian != nil:
		s := fmt.Sprintf("%s %s (%s) sha256:%.12s", k.Debian.Package, k.Debian.Version, k.Debian.Suite, k.Debian.SHA256)
		if c := k.Debian.Config; c != nil {
			s += fmt.Sprintf(" + %s sha256:%.12s", c.Package, c.SHA256)
		}
		return s
	case k.GoMod != nil:
		return fmt.Sprintf("%s@%s %s sha256:%.12s", k.GoMod.Module, k.GoMod.Version, k.GoMod.Path, k.GoMod.SHA256)
	case k.Build != nil:
		frag := k.Build.Config
		if frag == "" {
			frag = kernels.DefaultFragment
		}
		if tb := k.Build.Tarball; tb != nil {
			if tb.SHA256 == "" {
				return fmt.Sprintf("%s (sha256 not pinned: fetch refuses) + %s", tb.FileName(), frag)
			}
			return fmt.Sprintf("%s sha256:%.12s + %s", tb.FileName(), tb.SHA256, frag)
		}
		if d := k.Build.Debian; d != nil {
			return fmt.Sprintf("%s %s (%s) sha256:%.12s + %s", d.Package, d.Version, d.Suite, d.SHA256, frag)
		}
		if k.Build.Ref != "" {
			return fmt.Sprintf("%s @ %s + %s", k.Build.Tree, k.Build.Ref, frag)
		}
		return k.Build.Tree + " + " + frag
	case k.Local != nil:
		return k.Local.Path
	}
	return ""
}

// interactive reports whether progress may be redrawn in place: w is a
// terminal and CI is not set to true.
func interactive(w io.Writer) bool {
	if os.Getenv("CI") == "true" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func printImage(w io.Writer, im *kernels.Image) {
	boot := "PVH vmlinux " + im.Vmlinux
	if im.Vmlinux == "" {
		boot = "bzImage " + im.BzImage + " (" + im.VmlinuxErr + ")"
	}
	fmt.Fprintf(w, "%s: release %s, %s payload, boots %s, sha256 %s\n", im.Name, im.Release, im.Compression, boot, im.SHA256)
	c, err := im.KernelConfig()
	if err != nil {
		fmt.Fprintf(w, "  config: unknown (%v)\n", err)
		return
	}
	where := im.Config
	if where == "" {
		where = "embedded (IKCONFIG)"
	}
	var missing []string
	for _, o := range []string{"SMP", "NET_NS", "IPC_NS", "UTS_NS", "PID_NS", "USER_NS", "CGROUPS", "POSIX_MQUEUE", "SECCOMP_FILTER"} {
		if !c.Enabled(o) {
			missing = append(missing, "CONFIG_"+o)
		}
	}
	if len(missing) == 0 {
		fmt.Fprintf(w, "  config: %s; has everything the scenarios use\n", where)
	} else {
		fmt.Fprintf(w, "  config: %s; lacks %s\n", where, strings.Join(missing, ", "))
	}
}
