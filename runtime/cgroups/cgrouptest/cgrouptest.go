// Package cgrouptest runs a test where /sys/fs/cgroup is a cgroup2 mount.
// On a host whose /sys/fs/cgroup is v1 or hybrid, InCgroup2 re-runs the
// test in a private mount namespace (unshare -m) with the cgroup2
// hierarchy mounted there, as a runtime on such a host would need.
//
// The package reads the environment variable CSRUN_TEST_CGROUP2 (set in
// the re-run).
package cgrouptest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const env = "CSRUN_TEST_CGROUP2"

// Controllers is what the cgroup2 root offers (cgroup.controllers).
func Controllers(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// InCgroup2 reports whether the test runs where /sys/fs/cgroup is cgroup2
// and should go on. If not, it runs the test (a top-level one) again in a
// private mount namespace with cgroup2 mounted, reports that run's output
// and result, and returns false; it skips when that is impossible here.
func InCgroup2(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates cgroups")
	}
	var fs unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &fs); err == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		return true
	}
	if os.Getenv(env) == "1" {
		t.Skip("/sys/fs/cgroup is not cgroup2 even in the private mount namespace")
	}
	script := `mount --make-rprivate / && umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup || exit 99; exec "$@"`
	cmd := exec.Command("unshare", "-m", "sh", "-c", script, "sh", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("re-run in a private mount namespace with cgroup2 on /sys/fs/cgroup:\n%s", out)
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 99 {
		t.Skip("cannot mount cgroup2 in a private mount namespace here")
	}
	if err != nil {
		t.Fatalf("re-run failed: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()+" ") {
		t.Skip("skipped in the re-run (see its output above)")
	}
	return false
}
