// Command csrun is an OCI container runtime built for fast, measurable
// start-up, with a cache of compiled seccomp filters.
//
// Usage:
//
//	csrun [--root DIR] [--log FILE] [--log-format text|json] [--no-seccomp-cache]
//	      [--phase-timings FILE] COMMAND [ARGS]
//
//	create [--bundle DIR] [--pid-file FILE] [--no-pivot] ID
//	                                             set up the container, stop before exec
//	start ID                                     exec the created container's process
//	state ID                                     print the OCI state as JSON
//	kill ID [SIGNAL]                             signal the container (default SIGTERM)
//	delete [--force] ID                          remove a stopped (or, forced, running) container
//	run [--bundle DIR] [--pid-file FILE] ID      create, start, wait, delete; exit with the
//	                                             container process's status
//
// --log appends each error to FILE as well, in runc's text or json format
// (--log-format), where engines such as containerd look for it.
// --systemd-cgroup, which runc takes, is refused: csrun has no systemd
// cgroup driver. --no-pivot switches root with mount --move and chroot
// instead of pivot_root, for a runtime running on an initramfs.
//
// --bundle defaults to the current directory, --root to /run/csrun. The
// seccomp cache lives in ROOT/cache/seccomp; --no-seccomp-cache compiles
// with libseccomp every time. --phase-timings writes the start-up phases
// (create and run) as JSON.
//
// Exit status: that of the container process for run, 0 on success, 1 on
// any error (the message names the config.json field when one is at fault).
//
// Environment: none read.
//
// csrun lives for milliseconds and starts one process: it turns off the Go
// runtime's start-up work meant for long-running programs (reading the
// cgroup CPU limit for GOMAXPROCS and re-reading it every second, naming
// every anonymous mapping with a prctl), and runs with one P (see main).
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
//go:debug decoratemappings=0
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"coldstart/runtime/container"
)

func main() {
	if container.IsInit(os.Args) {
		container.Init() // never returns
	}
	start := container.Now()
	// One P: csrun's few goroutines (seccomp preparation during the
	// clone, signal forwarding) run while the main one blocks in a system
	// call; more Ps only add threads that spin, steal and hand work back
	// and forth, context switches that a loaded machine makes expensive.
	runtime.GOMAXPROCS(1)
	err := run(context.Background(), start, os.Stdin, os.Stdout, os.Stderr, os.Args[1:])
	var ee *container.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.Status)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "csrun: %v\n", err)
		os.Exit(1)
	}
}
