package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"coldstart/runtime/container"
)

var errUsage = errors.New("usage: csrun [--root DIR] [--log FILE] [--log-format text|json] [--no-seccomp-cache] [--phase-timings FILE] create|start|state|kill|delete|run [--bundle DIR] [--pid-file FILE] [--no-pivot] ID")

// run is the whole CLI; start is the CLOCK_MONOTONIC time the command
// began (0: now), stdin may be nil.
func run(ctx context.Context, start int64, stdin io.Reader, stdout, stderr io.Writer, args []string) (err error) {
	g := flag.NewFlagSet("csrun", flag.ContinueOnError)
	g.SetOutput(stderr)
	root := g.String("root", container.DefaultRoot, "state root directory")
	noCache := g.Bool("no-seccomp-cache", false, "compile seccomp profiles with libseccomp every time")
	timings := g.String("phase-timings", "", "write start-up phase timings (JSON) to this file")
	logPath := g.String("log", "", "also append errors to this file (as runc: engines read the last error there)")
	logFormat := g.String("log-format", "text", "format of --log: text or json")
	systemd := g.Bool("systemd-cgroup", false, "refused: csrun has no systemd cgroup driver")
	if err := g.Parse(args); err != nil {
		return err
	}
	if *logFormat != "text" && *logFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", *logFormat)
	}
	if *logPath != "" {
		defer func() {
			var ee *container.ExitError
			if err != nil && !errors.As(err, &ee) {
				if lerr := appendLog(*logPath, *logFormat, time.Now(), err.Error()); lerr != nil {
					err = fmt.Errorf("%w (and --log: %v)", err, lerr)
				}
			}
		}()
	}
	if *systemd {
		return errors.New("--systemd-cgroup: csrun has no systemd cgroup driver; it manages cgroup v2 directly (give linux.cgroupsPath as a path, not slice:prefix:name)")
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

// appendLog appends an error line to path, as runc's logrus does: text
// (time="..." level=error msg="...") or json ({"level","msg","time"}).
func appendLog(path, format string, t time.Time, msg string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	var line []byte
	ts := t.UTC().Format(time.RFC3339Nano)
	if format == "json" {
		line, _ = json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{"error", msg, ts})
	} else {
		line = []byte("time=" + strconv.Quote(ts) + " level=error msg=" + strconv.Quote(msg))
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
