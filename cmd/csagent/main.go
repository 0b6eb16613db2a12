// csagent is coldstart's benchmark agent. It runs inside the guest as
// u-root's uinit: it reads its plan from the kernel command line
// (coldstart.scenarios=..., coldstart.iterations=..., coldstart.warmups=...),
// runs the scenarios, streams framed events to the host on its own serial
// port (default /dev/ttyS1), and reboots the guest, which ends QEMU (the
// harness starts it with -no-reboot).
//
// It is not meant to be run by hand on a host: it reboots the machine when
// done unless -no-reboot is given.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/sys/unix"

	"coldstart/guest/agent"
	"coldstart/plan"
)

func main() {
	noReboot := flag.Bool("no-reboot", false, "do not reboot when done (for running outside a guest)")
	cmdline := flag.String("cmdline", "", "read the plan from this string instead of /proc/cmdline")
	flag.Parse()
	err := run(*cmdline, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "csagent: %v\n", err)
	}
	if *noReboot {
		if err != nil {
			os.Exit(1)
		}
		return
	}
	unix.Sync()
	// The harness runs QEMU with -no-reboot, so a reboot ends QEMU on every
	// kernel, with or without ACPI.
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
		fmt.Fprintf(os.Stderr, "csagent: reboot: %v\n", err)
		os.Exit(1)
	}
}

func run(cmdline string, console io.Writer) error {
	if cmdline == "" {
		b, err := os.ReadFile("/proc/cmdline")
		if err != nil {
			return fmt.Errorf("read the plan: %w", err)
		}
		cmdline = strings.TrimSpace(string(b))
	}
	boot, err := plan.Parse(cmdline)
	if err != nil {
		return fmt.Errorf("bad plan on the kernel command line: %w", err)
	}
	port, err := agent.OpenPort(boot.Port)
	if err != nil {
		return err
	}
	defer port.Close()
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, os.Interrupt)
	defer stop()
	notes := agent.PrepareGuest()
	for _, n := range notes {
		fmt.Fprintf(console, "csagent: %s\n", n)
	}
	return agent.Run(ctx, agent.Options{Boot: boot, Events: port, Console: console, Notes: notes})
}
