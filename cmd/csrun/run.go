package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"coldstart/runtime/container"
)

var errUsage = errors.New("usage: csrun [--root DIR] [--no-seccomp-cache] [--phase-timings FILE] create|start|state|kill|delete|run [--bundle DIR] [--pid-file FILE] [--no-pivot] ID")

// run is the whole CLI; start is the CLOCK_MONOTONIC time the command
// began (0: now), stdin may be nil.
func run(ctx context.Context, start int64, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	g := flag.NewFlagSet("csrun", flag.ContinueOnError)
	g.SetOutput(stderr)
	root := g.String("root", container.DefaultRoot, "state root directory")
	noCache := g.Bool("no-seccomp-cache", false, "compile seccomp profiles with libseccomp every time")
	timings := g.String("phase-timings", "", "write start-up phase timings (JSON) to this file")
	if err := g.Parse(args); err != nil {
		return err
	}
	if g.NArg() == 0 {
		return errUsage
	}
	if g.Arg(0) == "bench-seccomp" {
		return benchSeccomp(stdout, g.Args()[1:])
	}
	if start == 0 {
		start = container.Now()
	}
	cmd, rest := g.Arg(0), g.Args()[1:]
	f := flag.NewFlagSet("csrun "+cmd, flag.ContinueOnError)
	f.SetOutput(stderr)
	var bundle, pidFile string
	var force, noPivot bool
	switch cmd {
	case "create", "run":
		f.BoolVar(&noPivot, "no-pivot", false, "switch root with mount --move and chroot, not pivot_root (for an initramfs root; less safe)")
		f.StringVar(&bundle, "bundle", ".", "bundle directory")
		f.StringVar(&bundle, "b", ".", "bundle directory (shorthand)")
		f.StringVar(&pidFile, "pid-file", "", "write the container's pid here")
	case "delete":
		f.BoolVar(&force, "force", false, "kill a running container first")
		f.BoolVar(&force, "f", false, "kill a running container first (shorthand)")
	case "start", "state", "kill":
	default:
		return fmt.Errorf("unknown command %q\n%w", cmd, errUsage)
	}
	if err := f.Parse(rest); err != nil {
		return err
	}
	maxArgs := 1
	if cmd == "kill" {
		maxArgs = 2
	}
	if f.NArg() < 1 || f.NArg() > maxArgs {
		return fmt.Errorf("%s: want a container ID\n%w", cmd, errUsage)
	}
	id := f.Arg(0)
	rt := container.New(container.Options{
		Root: *root, NoSeccompCache: *noCache, PhaseTimings: *timings, NoPivot: noPivot,
		Stdin: stdin, Stdout: stdout, Stderr: stderr, Start: start,
	})
	switch cmd {
	case "create":
		return rt.Create(ctx, id, bundle, pidFile)
	case "run":
		return rt.Run(ctx, id, bundle, pidFile)
	case "start":
		return rt.Start(id)
	case "state":
		st, err := rt.State(id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	case "kill":
		sig := "SIGTERM"
		if f.NArg() == 2 {
			sig = f.Arg(1)
		}
		s, err := container.ParseSignal(sig)
		if err != nil {
			return err
		}
		return rt.Kill(id, s)
	case "delete":
		return rt.Delete(id, force)
	}
	return errUsage
}
