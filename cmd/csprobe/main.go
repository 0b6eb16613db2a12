// csprobe checks, from inside a container, that the runtime isolated it as
// its bundle asked (see guest/probe): no_new_privs, capabilities, masked
// and read-only paths, a PID namespace, and no path back to the guest's
// root. It prints one line per check and exits 1 when any check fails, 2
// on bad flags.
//
// Usage (the probe bundle's process; harness/benchbundle writes these flags
// from the same lists it puts in config.json):
//
//	csprobe -masked /proc/kcore,... -readonly /proc/sys,... -capeff 0x20000420 -host-only /bbin/csrun,/init
//
// Environment: none.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"coldstart/guest/probe"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("csprobe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	masked := fs.String("masked", "", "comma-separated masked paths")
	readonly := fs.String("readonly", "", "comma-separated read-only paths")
	capeff := fs.String("capeff", "", "the effective capability mask the bundle grants (hex)")
	hostOnly := fs.String("host-only", "", "comma-separated paths of the guest root that must be unreachable")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := strconv.ParseUint(strings.TrimPrefix(*capeff, "0x"), 16, 64)
	if err != nil {
		fmt.Fprintf(stderr, "csprobe: -capeff %q is not a hex mask: %v\n", *capeff, err)
		return 2
	}
	rs := probe.Run(probe.Expect{MaskedPaths: list(*masked), ReadonlyPaths: list(*readonly), CapEff: c, HostOnly: list(*hostOnly)})
	for _, r := range rs {
		fmt.Fprintln(stdout, r)
	}
	if probe.Failed(rs) {
		// Last, so a caller that keeps only the tail still sees why.
		var failed []string
		for _, r := range rs {
			if !r.OK {
				failed = append(failed, r.Check+" ("+r.Info+")")
			}
		}
		fmt.Fprintf(stdout, "csprobe: %d of %d checks failed: %s\n", len(failed), len(rs), strings.Join(failed, "; "))
		return 1
	}
	return 0
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
