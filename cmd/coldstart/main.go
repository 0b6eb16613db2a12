// coldstart measures how fast containers start on each Linux kernel, and
// catches the kernel change that made them slower.
//
// Usage:
//
//	coldstart matrix [--kernels a,b] [--kernel-file PATH] [--scenarios x,y]
//	                 [--boots B] [--iterations I] [--warmups W] [--out DIR]
//	                 [--accel auto|kvm|tcg] [--append "WORDS"] [--jobs J]
//	                 [--shard i/n] [--resume RUN_DIR]
//	                 [--adaptive [--max-boots M]] [--baselines DIR]
//	coldstart merge OUT_DIR RUN_DIR...
//	coldstart compare BASE NEW [--any-host] | baseline update RUN_DIR | report RUN_DIR... --html F | history DIR
//	coldstart machine [RUN_DIR] [--key]
//	coldstart explain A B --scenario NAME
//	coldstart ci --tree DIR --base REF (--head REF | --patches DIR)
//	coldstart bisect --tree DIR --good REF --bad REF --scenario NAME
//	coldstart kernels list | fetch NAME... | build --tree DIR | check IMAGE | update NAME...
//
// matrix boots every kernel in kernels/ (or those named) in QEMU with an
// initramfs holding the coldstart agent, runs the scenarios in the guest,
// writes results/runs/<UTC stamp>/<kernel>.json and the console logs, and
// prints a table per kernel. With --adaptive it compares each kernel with
// its baseline (results/baselines/<kernel>.json, or --baselines DIR) after
// the planned boots and adds boots, one at a time, to kernels with an
// unknown verdict, up to --max-boots; with --adaptive or --baselines it
// ends with the verdict table.
//
// Exit status: 0 when everything ran, 1 when some boots or scenarios failed
// (the results are still written) or, with --adaptive or --baselines, when
// a scenario regressed against its baseline, 2 on a usage or setup error
// or, with --adaptive or --baselines, when a kernel's comparison with its
// baseline is refused (another accelerator or machine class) or incomplete
// (see compare: the gate fails closed), 130 when interrupted (what was
// measured is written, marked incomplete).
//
// Environment: COLDSTART_CACHE (cache directory, default
// $XDG_CACHE_HOME/coldstart or ~/.cache/coldstart), COLDSTART_SRC (the
// coldstart source tree, default: found from the working directory),
// COLDSTART_QEMU (the QEMU binary).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Stderr, os.Args[1:])
	// Decide the code before stop(): stop cancels ctx, which would make
	// every failure look like an interruption.
	code := exitCode(ctx, os.Stderr, err)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// usageError is a mistake in the command line or in an input file: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// setupError is an environment problem (missing QEMU, no network to the
// archive, unwritable output): exit 2.
type setupError struct{ err error }

func (e setupError) Error() string { return e.err.Error() }
func (e setupError) Unwrap() error { return e.err }

// newFlagSet is a subcommand's flag set: it returns its errors, and
// writes them and -h's defaults, after usage when there is one, to stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if usage != "" {
		fs.Usage = func() { fmt.Fprintln(stderr, usage); fs.PrintDefaults() }
	}
	return fs
}

// flagError is the command's error for a flag parsing error: none after
// -h (the usage is printed and nothing failed), else a usage error.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return usageError{err}
}

func exitCode(ctx context.Context, stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "coldstart: %v\n", err)
	var ue usageError
	var se setupError
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "coldstart: interrupted; what was measured so far is written, marked incomplete")
		return exitInterrupted
	case errors.As(err, &ue), errors.As(err, &se):
		return exitUsage
	default:
		return exitFailed
	}
}

const usage = `usage:
  coldstart matrix [flags]          run the kernel matrix (coldstart matrix -h for flags)
  coldstart merge OUT_DIR RUN_DIR... join the run directories of shards (--shard i/n) into one
  coldstart kernels list            list the kernels in kernels/
  coldstart kernels fetch NAME...   fetch and verify kernels into the cache
  coldstart kernels check IMAGE     check that a file is a bootable kernel
  coldstart kernels build --tree DIR [--ref R] [--config FRAG] [--name N] [--config-only]
                                    build a kernel from a source tree with the config fragment
  coldstart kernels update NAME...  re-pin kernels whose pinned package the archive dropped
  coldstart compare BASE NEW [--format text|markdown|json|junit|benchstat|html] [--threshold 5%] [--out FILE] [--any-host]
                                    verdicts per kernel and scenario; exit 1 on a regression, 2 when
                                    refused (another machine class) or incomplete
  coldstart baseline update RUN_DIR store a run's results as the baselines in results/baselines
  coldstart report RUN_DIR... --html FILE
                                    one HTML page for a whole matrix, beside the baselines
  coldstart history DIR             the run where each scenario stepped, over nightly run directories
  coldstart machine [RUN_DIR] [--key]
                                    the machine fingerprint and class a run recorded (or this host's)
  coldstart explain A B --scenario NAME [--kernel K] [--format text|markdown|svg] [--top N]
                                    kernel call paths whose time grew from A to B (traced runs)
  coldstart ci --tree DIR --base REF (--head REF | --patches DIR) [flags]
                                    build, boot alternately and compare a kernel patch; exit 1 on a regression
  coldstart bisect --tree DIR --good REF --bad REF --scenario NAME [--boots N] [--max-boots M]
                                    name the commit that made a scenario slower (rerun to resume)`

func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usagef("no command given")
	}
	switch args[0] {
	case "matrix":
		return runMatrix(ctx, stdout, stderr, args[1:])
	case "kernels":
		return runKernels(ctx, stdout, stderr, args[1:])
	case "compare":
		return runCompare(ctx, stdout, stderr, args[1:])
	case "baseline":
		return runBaseline(ctx, stdout, stderr, args[1:])
	case "report":
		return runReport(ctx, stdout, stderr, args[1:])
	case "history":
		return runHistory(ctx, stdout, stderr, args[1:])
	case "merge":
		return runMerge(stdout, stderr, args[1:])
	case "explain":
		return runExplain(ctx, stdout, stderr, args[1:])
	case "machine":
		return runMachine(ctx, stdout, stderr, args[1:])
	case "ci":
		return runCI(ctx, stdout, stderr, args[1:])
	case "bisect":
		return runBisect(ctx, stdout, stderr, args[1:])
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return usagef("unknown command %q", args[0])
	}
}
