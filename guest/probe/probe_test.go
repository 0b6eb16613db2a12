package probe_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/guest/probe"
	"coldstart/harness/benchbundle"
)

// The probe must fail where nothing is isolated: this test process.
func TestProbeFailsOutsideAContainer(t *testing.T) {
	c := benchbundle.ProbeConfig()
	rs := probe.Run(probe.Expect{MaskedPaths: c.Linux.MaskedPaths, ReadonlyPaths: c.Linux.ReadonlyPaths,
		CapEff: 0x20000420, HostOnly: []string{"/proc"}})
	got := map[string]bool{}
	for _, r := range rs {
		got[r.Check] = r.OK
	}
	assert.True(t, probe.Failed(rs))
	assert.False(t, got["pid namespace"], "a test process is not pid 1 alone: %v", rs)
	assert.False(t, got["guest root unreachable"], "/proc is reachable from here: %v", rs)
	assert.False(t, got["read-only /proc/sys"], "/proc/sys is writable here: %v", rs)
	if os.Getpid() != 1 {
		nnp := false
		for _, r := range rs {
			if r.Check == "no_new_privs" {
				nnp = r.OK
			}
		}
		if b, _ := os.ReadFile("/proc/self/status"); !strings.Contains(string(b), "NoNewPrivs:\t1") {
			assert.False(t, nnp, "no_new_privs is not set here")
		}
	}
}

func TestMountPointsUnescape(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "self"), 0o755))
	p := filepath.Join(dir, "self", "mountinfo")
	require.NoError(t, os.WriteFile(p, []byte(
		"22 1 0:21 / / rw,relatime - tmpfs tmpfs rw\n"+
			"23 22 0:5 / /proc rw - proc proc rw\n"+
			"24 22 0:22 / /with\\040space rw - tmpfs tmpfs rw\n"), 0o644))
	rs := probe.Run(probe.Expect{ProcRoot: dir, HostOnly: []string{"/no/such/file"}})
	for _, r := range rs {
		if r.Check == "guest root unreachable" {
			assert.True(t, r.OK, r.Info)
			assert.Contains(t, r.Info, "3 mount points")
		}
	}
}

// TestProbeInRuntimes runs the probe bundle with every runtime on the host
// (as root): a runtime that isolates as asked passes every check, and the
// same runtime given a config without no_new_privs fails that check, so the
// probe can tell.
func TestProbeInRuntimes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs containers")
	}
	if err := exec.Command("unshare", "--mount", "--pid", "--fork", "true").Run(); err != nil {
		t.Skipf("cannot create namespaces here (unshare: %v)", err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "csprobe")
	build := exec.Command("go", "build", "-o", bin, "coldstart/cmd/csprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	dir, err := benchbundle.WriteProbe(filepath.Join(tmp, "bundles"), bin)
	require.NoError(t, err)

	runtimes := map[string]string{}
	csrun := filepath.Join(tmp, "csrun")
	if out, err := exec.Command("go", "build", "-o", csrun, "coldstart/cmd/csrun").CombinedOutput(); err == nil {
		runtimes["csrun"] = csrun
	} else {
		t.Logf("csrun left out: %v\n%s", err, out)
	}
	for _, name := range []string{"crun", "runc"} {
		if p, err := exec.LookPath(name); err == nil {
			runtimes[name] = p
		}
	}
	if len(runtimes) == 0 {
		t.Skip("no runtime available (make setup installs crun and runc)")
	}
	// A copy of the bundle without no_new_privs: the probe must say so.
	leaky := filepath.Join(tmp, "leaky")
	require.NoError(t, exec.Command("cp", "-a", dir, leaky).Run())
	spec := benchbundle.ProbeConfig()
	spec.Process.NoNewPrivileges = false
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(leaky, "config.json"), b, 0o644))

	for name, path := range runtimes {
		t.Run(name, func(t *testing.T) {
			run := func(bundleDir, id string) (string, error) {
				root := filepath.Join(tmp, "state-"+name)
				cmd := exec.Command(path, "--root", root, "run", "--bundle", bundleDir, id)
				out, err := cmd.CombinedOutput()
				exec.Command(path, "--root", root, "delete", "-f", id).Run()
				return string(out), err
			}
			out, err := run(dir, fmt.Sprintf("probe-%s-%d", name, os.Getpid()))
			if strings.Contains(out, "cgroup") && err != nil && name != "csrun" {
				t.Skipf("%s cannot manage cgroups here: %s", name, out)
			}
			require.NoError(t, err, "%s", out)
			assert.NotContains(t, out, "FAIL", out)
			assert.Contains(t, out, "ok   no_new_privs")

			out, err = run(leaky, fmt.Sprintf("leaky-%s-%d", name, os.Getpid()))
			require.Error(t, err, "%s", out)
			assert.Contains(t, out, "FAIL no_new_privs", out)
		})
	}
}
