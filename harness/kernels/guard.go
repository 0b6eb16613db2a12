package kernels

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// OnlyEnv names the environment variable that limits which kernels a
// Fetcher may fetch or build: a comma-separated list of kernel names.
// `make test` sets it to the default kernel. A test that reaches for any
// other kernel (a 21-105 MB download each) or for a kernel build (12-30
// minutes on two cores) then fails at once, saying which kernel and why,
// instead of running into go test's timeout on a fresh machine, where no
// cache hides it.
//
// The limit applies only where the real tools would run: a Fetcher whose
// AptGet, Go or Make is set to a test's fake is not limited.
const OnlyEnv = "COLDSTART_FETCH_ONLY"

// ErrNotAllowed means OnlyEnv left a kernel out.
var ErrNotAllowed = errors.New("kernel not allowed here")

// allow returns an ErrNotAllowed error when OnlyEnv is set, does not name
// kernel name, and tool (the Fetcher's AptGet, Go or Make) is the real one.
// what says what would have happened ("fetch", "build").
func allow(name, tool, what string) error {
	only, set := os.LookupEnv(OnlyEnv)
	if !set || tool != "" {
		return nil
	}
	var names []string
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if n == name {
			return nil
		}
		names = append(names, n)
	}
	return fmt.Errorf("%w: %s=%q allows only %s, and this would %s kernel %s; "+
		"a test under make test may use only the default kernel (give it --kernels %s), "+
		"and one that needs another kernel or a kernel build belongs in make test-long",
		ErrNotAllowed, OnlyEnv, only, orDefault(strings.Join(names, ", "), "no kernel"), what, name, orDefault(strings.Join(names, ","), "<name>"))
}

// allow applies OnlyEnv to k with the tool its source runs.
func (f *Fetcher) allow(k Kernel) error {
	switch k.Source {
	case SourceDebian:
		return allow(k.Name, f.AptGet, "fetch")
	case SourceGoMod:
		return allow(k.Name, f.Go, "fetch")
	case SourceBuild:
		if k.Build != nil && k.Build.Debian == nil && k.Build.Tarball == nil && k.Build.Ref == "" {
			// A tree on disk: plan applies the limit, after the checks
			// of the tree and the fragment, which cost nothing.
			return nil
		}
		return allow(k.Name, f.Make, "build")
	}
	return nil
}
