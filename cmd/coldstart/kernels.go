package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"coldstart/harness/kernels"
)

func runKernels(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		return usagef("kernels needs a subcommand: list, fetch NAME..., check IMAGE")
	}
	src, err := sourceDir()
	if err != nil {
		return setupError{err}
	}
	cache, err := kernels.DefaultCacheDir()
	if err != nil {
		return setupError{err}
	}
	switch args[0] {
	case "list":
		all, err := kernels.Load(filepath.Join(src, "kernels"))
		if err != nil {
			return usageError{err}
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tSOURCE\tPIN\t")
		for _, k := range all {
			pin := ""
			if k.Debian != nil {
				pin = fmt.Sprintf("%s %s (%s) sha256:%.12s", k.Debian.Package, k.Debian.Version, k.Debian.Suite, k.Debian.SHA256)
			} else if k.Local != nil {
				pin = k.Local.Path
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", k.Name, k.Version, k.Source, pin)
		}
		return tw.Flush()
	case "fetch":
		all, err := kernels.Load(filepath.Join(src, "kernels"))
		if err != nil {
			return usageError{err}
		}
		names := args[1:]
		if len(names) == 0 {
			for _, k := range all {
				names = append(names, k.Name)
			}
		}
		f := &kernels.Fetcher{CacheDir: cache, Progress: stderr}
		for _, n := range names {
			k, err := kernels.Lookup(all, n)
			if err != nil {
				return usageError{err}
			}
			im, err := f.Fetch(ctx, k)
			if err != nil {
				return setupError{fmt.Errorf("kernel %s: %w", n, err)}
			}
			printImage(stdout, im)
		}
		return nil
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
	default:
		return usagef("unknown kernels subcommand %q: want list, fetch or check", args[0])
	}
}

func printImage(w io.Writer, im *kernels.Image) {
	boot := "PVH vmlinux " + im.Vmlinux
	if im.Vmlinux == "" {
		boot = "bzImage " + im.BzImage + " (" + im.VmlinuxErr + ")"
	}
	fmt.Fprintf(w, "%s: release %s, %s payload, boots %s, sha256 %s\n", im.Name, im.Release, im.Compression, boot, im.SHA256)
}
