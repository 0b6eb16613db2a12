package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"coldstart/runtime/bundle"
	"coldstart/runtime/cgroups"
	"coldstart/runtime/cgroups/cgrouptest"
	"coldstart/runtime/container"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The test binary doubles as csrun: as its own init stage ("init"), and as
// the CLI when CSRUN_TEST_MAIN=1 (to check real process exit statuses).
func TestMain(m *testing.M) {
	if container.IsInit(os.Args) {
		container.Init()
	}
	if os.Getenv("CSRUN_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	// Containers whose creator exited (create/start) are re-parented to
	// us, not to the host's pid 1, so the tests can reap them.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	os.Exit(m.Run())
}

func ptr[T any](v T) *T { return &v }

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and pivot_root")
	}
	if err := exec.Command("unshare", "--mount", "--uts", "--ipc", "--net", "--pid", "--fork", "true").Run(); err != nil {
		t.Skipf("cannot create namespaces here (unshare: %v)", err)
	}
}

var (
	probeOnce sync.Once
	probePath string
	probeErr  error
)

// probe builds testdata/probe as a static binary, once per test run.
func probe(t *testing.T) string {
	t.Helper()
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "csrun-probe-")
		if err != nil {
			probeErr = err
			return
		}
		probePath = filepath.Join(dir, "probe")
		cmd := exec.Command("go", "build", "-o", probePath, "./testdata/probe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("build probe: %v\n%s", err, out)
		}
	})
	require.NoError(t, probeErr)
	return probePath
}

// baseSpec is what `runc spec` writes, minus linux.resources (no cgroup) and
// with the probe as the process.
func baseSpec(args ...string) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Args: append([]string{"probe"}, args...), Cwd: "/",
			Env:             []string{"PATH=/bin", "TERM=xterm"},
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Ambient: caps},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "csrun-test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		},
		Linux: &specs.Linux{
			Namespaces:    []specs.LinuxNamespace{{Type: "pid"}, {Type: "network"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}, {Type: "cgroup"}},
			MaskedPaths:   []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// newBundle writes a bundle whose rootfs holds only /bin/probe.
func newBundle(t *testing.T, spec *specs.Spec) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "rootfs", "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	data, err := os.ReadFile(probe(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(bin, "probe"), data, 0o755))
	writeSpec(t, dir, spec)
	return dir
}

func writeSpec(t *testing.T, dir string, spec *specs.Spec) {
	t.Helper()
	data, err := json.MarshalIndent(spec, "", " ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
}

type result struct {
	stdout, stderr string
	err            error
}

func csrun(t *testing.T, args ...string) result {
	t.Helper()
	// Files, not buffers: a created container writes after run returns.
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	require.NoError(t, err)
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	defer errf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = run(ctx, 0, nil, out, errf, args)
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	return result{string(o), string(e), err}
}

// kv parses the probe's name=value lines.
func kv(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// noLeaks checks that a test left no container state and no processes.
func noLeaks(t *testing.T, root string) {
	t.Helper()
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		assert.Equal(t, "cache", e.Name(), "state left behind in %s", root)
	}
	var ws unix.WaitStatus
	pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
	assert.True(t, pid <= 0, "child process %d left behind (%v)", pid, err)
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		kids, _ := os.ReadFile(f)
		assert.Empty(t, strings.TrimSpace(string(kids)), "child processes left behind")
	}
}

func TestRunExitStatusPropagates(t *testing.T) {
	requireRoot(t)
	for _, status := range []int{0, 1, 3, 42} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			root := t.TempDir()
			b := newBundle(t, baseSpec(fmt.Sprintf("exit:%d", status)))
			res := csrun(t, "--root", root, "run", "--bundle", b, "c1")
			if status == 0 {
				require.NoError(t, res.err, res.stderr)
			} else {
				var ee *container.ExitError
				require.ErrorAs(t, res.err, &ee, res.stderr)
				assert.Equal(t, status, ee.Status)
			}
			noLeaks(t, root)
		})
	}
}

// The real binary (this test binary as csrun) exits with the container's status.
func TestBinaryExitStatus(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	b := newBundle(t, baseSpec("exit:7"))
	cmd := exec.Command(os.Args[0], "--root", root, "run", "--bundle", b, "c1")
	cmd.Env = append(os.Environ(), "CSRUN_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, string(out))
	assert.Equal(t, 7, ee.ExitCode())

	// And a refused config exits 1 naming the field.
	spec := baseSpec()
	spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: ptr(int64(1 << 20))}}
	writeSpec(t, b, spec)
	cmd = exec.Command(os.Args[0], "--root", root, "run", "--bundle", b, "c2")
	cmd.Env = append(os.Environ(), "CSRUN_TEST_MAIN=1")
	out, err = cmd.CombinedOutput()
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, string(out), "linux.resources.memory.kernel")
	noLeaks(t, root)
}

func hostNS(t *testing.T) map[string]string {
	m := map[string]string{}
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "uts"} {
		l, err := os.Readlink("/proc/self/ns/" + ns)
		require.NoError(t, err)
		m["ns."+ns] = l
	}
	return m
}

func TestIsolation(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	b := newBundle(t, baseSpec("hostname", "ns", "pids", "id", "cwd", "env:TERM", "status:NoNewPrivs", "status:CapEff", "write:/ro", "write:/tmp/rw"))
	res := csrun(t, "--root", root, "run", "--bundle", b, "iso")
	require.NoError(t, res.err, res.stderr)
	got := kv(res.stdout)
	host, _ := os.Hostname()
	assert.Equal(t, "csrun-test", got["hostname"])
	assert.NotEqual(t, host, got["hostname"])
	for k, v := range hostNS(t) {
		assert.NotEmpty(t, got[k], k)
		assert.NotEqual(t, v, got[k], "%s same as the host's", k)
	}
	assert.Equal(t, "1", got["pids"], "/proc shows processes other than the container's")
	assert.Equal(t, "0 0 []", got["id"])
	assert.Equal(t, "/", got["cwd"])
	assert.Equal(t, "xterm", got["env.TERM"])
	assert.Equal(t, "1", got["NoNewPrivs"])
	assert.Equal(t, "0000000020000420", got["CapEff"]) // AUDIT_WRITE, KILL, NET_BIND_SERVICE
	assert.Equal(t, fmt.Sprint(int(unix.EROFS)), got["write./ro"], "root.readonly")
	assert.Equal(t, "0", got["write./tmp/rw"], "tmpfs on /tmp")
	noLeaks(t, root)
}

func TestUserNamespace(t *testing.T) {
	requireRoot(t)
	if err := exec.Command("unshare", "--user", "--map-root-user", "true").Run(); err != nil {
		t.Skipf("user namespaces unavailable: %v", err)
	}
	root := t.TempDir()
	spec := baseSpec("id", "ns")
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5, 1001}}
	spec.Root.Readonly = false
	b := newBundle(t, spec)
	// The container's root is host uid 100000: give it the rootfs, and a
	// way through the bundle directory.
	require.NoError(t, os.Chmod(b, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(b), 0o755))
	require.NoError(t, filepath.Walk(filepath.Join(b, "rootfs"), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 100000, 100000)
	}))
	res := csrun(t, "--root", root, "run", "--bundle", b, "userns")
	require.NoError(t, res.err, res.stderr)
	got := kv(res.stdout)
	assert.Equal(t, "1000 1000 [5 1001]", got["id"])
	self, _ := os.Readlink("/proc/self/ns/user")
	assert.NotEqual(t, self, got["ns.user"])
	noLeaks(t, root)
}

func loadProfile(t *testing.T) *specs.LinuxSeccomp {
	t.Helper()
	data, err := os.ReadFile("../../profiles/default.json")
	require.NoError(t, err)
	var sc specs.LinuxSeccomp
	require.NoError(t, json.Unmarshal(data, &sc))
	return &sc
}

func TestSeccompDeniedSyscallErrno(t *testing.T) {
	requireRoot(t)
	errno := uint(42)
	for _, tc := range []struct {
		name    string
		profile func() *specs.LinuxSeccomp
		want    string
	}{
		{"custom errno", func() *specs.LinuxSeccomp {
			return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &errno}}}
		}, "42"},
		{"default profile allows mkdir", func() *specs.LinuxSeccomp { return loadProfile(t) }, "0"},
		{"default profile, errno from defaultErrnoRet", func() *specs.LinuxSeccomp {
			p := loadProfile(t)
			p.Syscalls[0].Names = removeName(p.Syscalls[0].Names, "mkdirat")
			d := uint(13)
			p.DefaultErrnoRet = &d
			return p
		}, "13"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			spec := baseSpec("status:Seccomp", "mkdir:/tmp/d")
			spec.Linux.Seccomp = tc.profile()
			b := newBundle(t, spec)
			res := csrun(t, "--root", root, "run", "--bundle", b, "sc")
			require.NoError(t, res.err, res.stderr)
			got := kv(res.stdout)
			assert.Equal(t, "2", got["Seccomp"], "filter mode")
			assert.Equal(t, tc.want, got["mkdir"])
			noLeaks(t, root)
		})
	}
}

func removeName(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

func readTimings(t *testing.T, path string) container.Timings {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var tm container.Timings
	require.NoError(t, json.Unmarshal(data, &tm))
	return tm
}

func TestSeccompCache(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	spec := baseSpec("mkdir:/tmp/d")
	spec.Linux.Seccomp = loadProfile(t)
	b := newBundle(t, spec)
	tf := filepath.Join(t.TempDir(), "timings.json")
	cacheDir := filepath.Join(root, "cache", "seccomp")

	step := func(wantSeccomp string, extra ...string) container.Timings {
		t.Helper()
		args := append([]string{"--root", root, "--phase-timings", tf}, extra...)
		res := csrun(t, append(args, "run", "--bundle", b, "c")...)
		require.NoError(t, res.err, res.stderr)
		assert.Equal(t, "0", kv(res.stdout)["mkdir"])
		tm := readTimings(t, tf)
		assert.Equal(t, wantSeccomp, tm.Seccomp)
		assert.Equal(t, wantSeccomp == "cache-hit", tm.CacheHit)
		return tm
	}
	tm := step("cache-miss")
	names := map[string]bool{}
	for _, p := range tm.Phases {
		names[p.Name] = true
		assert.GreaterOrEqual(t, p.DurNS, int64(0), p.Name)
	}
	for _, want := range []string{"parse", "namespaces", "mounts", "pivot_root", "seccomp_compile", "seccomp_load", "exec"} {
		assert.True(t, names[want], "phase %s missing from %v", want, tm.Phases)
	}
	tm = step("cache-hit")
	assert.Equal(t, "pivot_root", tm.RootSwitch)

	ents, err := os.ReadDir(cacheDir)
	require.NoError(t, err)
	require.Len(t, ents, 1)
	entry := filepath.Join(cacheDir, ents[0].Name())
	good, err := os.ReadFile(entry)
	require.NoError(t, err)
	for _, corrupt := range []struct {
		name string
		data []byte
	}{
		{"truncated", good[:len(good)-8]},
		{"bit flip", flip(good, len(good)-3)},
		{"header only", good[:48]},
		{"empty", nil},
	} {
		t.Run(corrupt.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(entry, corrupt.data, 0o600))
			step("cache-corrupt")
			rebuilt, err := os.ReadFile(entry)
			require.NoError(t, err)
			assert.Equal(t, good, rebuilt, "entry not rebuilt")
			step("cache-hit")
		})
	}
	// --no-seccomp-cache neither reads nor writes the cache.
	require.NoError(t, os.Remove(entry))
	step("compiled", "--no-seccomp-cache")
	_, err = os.Stat(entry)
	assert.ErrorIs(t, err, os.ErrNotExist)
	noLeaks(t, root)
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

func stateSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/runtime-spec").Output()
	require.NoError(t, err)
	dir := filepath.Join(strings.TrimSpace(string(out)), "schema")
	c := jsonschema.NewCompiler()
	for _, f := range []string{"defs.json", "state-schema.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		require.NoError(t, err)
		require.NoError(t, c.AddResource("file://"+filepath.Join(dir, f), doc))
	}
	s, err := c.Compile("file://" + filepath.Join(dir, "state-schema.json"))
	require.NoError(t, err)
	return s
}

func TestLifecycleAndStateSchema(t *testing.T) {
	requireRoot(t)
	schema := stateSchema(t)
	root := t.TempDir()
	b := newBundle(t, baseSpec("sleep:60"))
	pidFile := filepath.Join(t.TempDir(), "pid")

	state := func(want specs.ContainerState) specs.State {
		t.Helper()
		res := csrun(t, "--root", root, "state", "lc")
		require.NoError(t, res.err, res.stderr)
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(res.stdout))
		require.NoError(t, err)
		assert.NoError(t, schema.Validate(doc), res.stdout)
		var st specs.State
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &st))
		assert.Equal(t, want, st.Status)
		assert.Equal(t, "lc", st.ID)
		return st
	}

	res := csrun(t, "--root", root, "create", "--bundle", b, "--pid-file", pidFile, "lc")
	require.NoError(t, res.err, res.stderr)
	st := state(specs.StateCreated)
	pidData, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(st.Pid), string(pidData))
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", st.Pid))
	assert.Equal(t, "csrun:init\n", string(comm), "init stage named in ps")

	assert.ErrorIs(t, csrun(t, "--root", root, "create", "--bundle", b, "lc").err, container.ErrExist)
	// Deleting a created container kills its init stage, as runc does.
	require.NoError(t, csrun(t, "--root", root, "delete", "lc").err)
	var ws unix.WaitStatus
	_, err = unix.Wait4(st.Pid, &ws, 0, nil) // we are the subreaper
	require.NoError(t, err)
	res = csrun(t, "--root", root, "create", "--bundle", b, "lc")
	require.NoError(t, res.err, res.stderr)
	st = state(specs.StateCreated)

	require.NoError(t, csrun(t, "--root", root, "start", "lc").err)
	st = state(specs.StateRunning)
	assert.Eventually(t, func() bool {
		comm, _ = os.ReadFile(fmt.Sprintf("/proc/%d/comm", st.Pid))
		return string(comm) == "probe\n"
	}, 10*time.Second, time.Millisecond, "container process never exec'd")
	assert.ErrorIs(t, csrun(t, "--root", root, "start", "lc").err, container.ErrNotCreated)
	assert.ErrorIs(t, csrun(t, "--root", root, "delete", "lc").err, container.ErrRunning)

	require.NoError(t, csrun(t, "--root", root, "kill", "lc", "KILL").err)
	_, err = unix.Wait4(st.Pid, &ws, 0, nil) // we are the subreaper
	require.NoError(t, err)
	assert.True(t, ws.Signaled())
	state(specs.StateStopped)
	assert.ErrorIs(t, csrun(t, "--root", root, "kill", "lc").err, container.ErrNotRunning)
	require.NoError(t, csrun(t, "--root", root, "delete", "lc").err)
	assert.ErrorIs(t, csrun(t, "--root", root, "state", "lc").err, container.ErrNotExist)

	// delete --force of a running container.
	require.NoError(t, csrun(t, "--root", root, "create", "--bundle", b, "lc2").err)
	require.NoError(t, csrun(t, "--root", root, "start", "lc2").err)
	st2 := state2(t, root, "lc2")
	require.NoError(t, csrun(t, "--root", root, "delete", "--force", "lc2").err)
	unix.Wait4(st2.Pid, &ws, 0, nil)
	noLeaks(t, root)
}

func state2(t *testing.T, root, id string) specs.State {
	res := csrun(t, "--root", root, "state", id)
	require.NoError(t, res.err)
	var st specs.State
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &st))
	return st
}

// Refused configs: no root needed, nothing is spawned.
func TestRefusedConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(s *specs.Spec)
		raw   string // instead of edit
		field string
	}{
		{"kernel memory", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: ptr(int64(1 << 20))}}
		}, "", "linux.resources.memory.kernel"},
		{"net_cls", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr(uint32(1))}}
		}, "", "linux.resources.network"},
		{"bad device rule", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwx"}}}
		}, "", "linux.resources.devices[0].access"},
		{"systemd cgroup path", func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:csrun:x" }, "", "linux.cgroupsPath"},
		{"terminal", func(s *specs.Spec) { s.Process.Terminal = true }, "", "process.terminal"},
		{"namespace path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "/proc/1/ns/net" }, "", "linux.namespaces[1].path"},
		{"time namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "time"})
		}, "", "linux.namespaces[6].type"},
		{"no mount namespace", func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:4] }, "", "linux.namespaces"},
		{"nfs mount", func(s *specs.Spec) { s.Mounts[2].Type = "nfs" }, "", "mounts[2].type"},
		{"relative mount", func(s *specs.Spec) { s.Mounts[0].Destination = "proc" }, "", "mounts[0].destination"},
		{"relative hook", func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "probe"}}} }, "", "hooks.poststop[0].path"},
		{"notify action", func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActNotify} }, "", "linux.seccomp.defaultAction"},
		{"bad capability", func(s *specs.Spec) { s.Process.Capabilities.Effective = []string{"CAP_FLY"} }, "", "process.capabilities.effective[0]"},
		{"bad rlimit", func(s *specs.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_WINGS" }, "", "process.rlimits[0].type"},
		{"apparmor", func(s *specs.Spec) { s.Process.ApparmorProfile = "x" }, "", "process.apparmorProfile"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.core_pattern": "|/x"} }, "", `linux.sysctl["kernel.core_pattern"]`},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "", `linux.sysctl["net.ipv4.ip_forward"]`},
		{"bind data", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/tmp", Options: []string{"rbind", "size=1m"}})
		}, "", "mounts[7].options[1]"},
		{"unknown field", nil, `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"frobnicate":1}`, "frobnicate"},
		{"wrong type", nil, `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":"sh","cwd":"/","user":{"uid":0,"gid":0}}}`, "process.args"},
		{"malformed", nil, `{"ociVersion":`, "malformed JSON"},
		{"missing root", nil, `{"ociVersion":"1.0.2"}`, "root.path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(dir, "rootfs"), 0o755))
			if tc.raw != "" {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.raw), 0o644))
			} else {
				s := baseSpec()
				tc.edit(s)
				writeSpec(t, dir, s)
			}
			res := csrun(t, "--root", root, "run", "--bundle", dir, "bad")
			require.Error(t, res.err)
			var ee *container.ExitError
			assert.False(t, errors.As(res.err, &ee), "a refused config is an error (exit 1), not a container status")
			assert.Contains(t, res.err.Error(), tc.field)
			var fe *bundle.FieldError
			assert.ErrorAs(t, res.err, &fe)
			ents, _ := os.ReadDir(root)
			assert.Empty(t, ents, "state left behind")
		})
	}
}

// Stdio that is not a file goes through pipes, as with os/exec.
func TestRunWithReaderAndWriters(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	b := newBundle(t, baseSpec("stdin", "hostname", "bogus"))
	var stdout, stderr bytes.Buffer
	rt := container.New(container.Options{Root: root, Stdin: strings.NewReader("hello"), Stdout: &stdout, Stderr: &stderr})
	err := rt.Run(context.Background(), "pipes", b, "")
	var ee *container.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	assert.Equal(t, 100, ee.Status)
	got := kv(stdout.String())
	assert.Equal(t, "hello", got["stdin"])
	assert.Equal(t, "csrun-test", got["hostname"])
	assert.Contains(t, stderr.String(), `unknown check "bogus"`)
	noLeaks(t, root)
}

// A failure in the init stage (C, runtime/internal/initstage) names the
// config.json field it comes from and keeps the errno.
func TestInitStageErrorNamesField(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name  string
		edit  func(s *specs.Spec)
		field string
	}{
		{"bind source missing", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/nonexistent-csrun-test", Options: []string{"rbind"}})
		}, "mounts[7] (bind on /data): source: stat /nonexistent-csrun-test"},
		{"unknown sysctl", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.csrun_nonexistent": "1"}
		}, "linux.sysctl net.csrun_nonexistent: open /proc/sys/net/csrun_nonexistent"},
		{"cwd missing", func(s *specs.Spec) { s.Process.Cwd = "/nonexistent" }, "process.cwd: chdir /nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			spec := baseSpec()
			tc.edit(spec)
			b := newBundle(t, spec)
			res := csrun(t, "--root", root, "run", "--bundle", b, "bad")
			require.Error(t, res.err)
			var ee *container.ExitError
			assert.False(t, errors.As(res.err, &ee), "an init stage failure is an error (exit 1), not a container status")
			assert.ErrorContains(t, res.err, tc.field)
			assert.ErrorIs(t, res.err, unix.ENOENT)
			noLeaks(t, root)
		})
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"frob", "x"}, {"state"}, {"kill", "a", "b", "c"}} {
		assert.Error(t, csrun(t, args...).err, "%v", args)
	}
}

// A namespaced sysctl is written before /proc/sys is made read-only (as
// runc's spec has it), and /proc/sys is read-only afterwards.
func TestSysctlWithReadonlyProcSys(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	spec := baseSpec("read:/proc/sys/net/ipv4/ip_forward", "read:/proc/sys/kernel/domainname", "write:/proc/sys/net/ipv4/ip_forward")
	require.Contains(t, spec.Linux.ReadonlyPaths, "/proc/sys")
	spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.domainname": "csrun.test"}
	res := csrun(t, "--root", root, "run", "--bundle", newBundle(t, spec), "sysctl")
	require.NoError(t, res.err, res.stderr)
	got := kv(res.stdout)
	assert.Equal(t, "1", got["read./proc/sys/net/ipv4/ip_forward"])
	assert.Equal(t, "csrun.test", got["read./proc/sys/kernel/domainname"])
	assert.Equal(t, fmt.Sprint(int(unix.EROFS)), got["write./proc/sys/net/ipv4/ip_forward"], "/proc/sys read-only")
	noLeaks(t, root)
}

// Mount options csrun knows are applied (rro recursively with
// mount_setattr, nosymfollow), data reaches the filesystem (hidepid), and
// a cgroup mount is cgroup2 only where the host's hierarchy is.
func TestMountOptions(t *testing.T) {
	requireRoot(t)
	// A host directory with a mount below it, for rro's recursion, and a
	// symlink, for nosymfollow.
	src := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(src, "sub"), 0o755))
	require.NoError(t, unix.Mount("tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, "size=64k"))
	t.Cleanup(func() { unix.Unmount(filepath.Join(src, "sub"), unix.MNT_DETACH) })
	require.NoError(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	require.NoError(t, os.Symlink("f", filepath.Join(src, "link")))
	erofs, eloop := fmt.Sprint(int(unix.EROFS)), fmt.Sprint(int(unix.ELOOP))

	var hostFS unix.Statfs_t
	require.NoError(t, unix.Statfs("/sys/fs/cgroup", &hostFS))
	unified := hostFS.Type == unix.CGROUP2_SUPER_MAGIC

	for _, tc := range []struct {
		name  string
		mnt   specs.Mount
		args  []string
		check func(t *testing.T, got map[string]string)
		field string // refused: the field named
	}{
		{"rro", specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "rro"}},
			[]string{"write:/data/new", "write:/data/sub/new"}, func(t *testing.T, got map[string]string) {
				assert.Equal(t, erofs, got["write./data/new"])
				assert.Equal(t, erofs, got["write./data/sub/new"], "rro reaches the mount below")
			}, ""},
		{"ro is not recursive", specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
			[]string{"write:/data/new", "write:/data/sub/new"}, func(t *testing.T, got map[string]string) {
				assert.Equal(t, erofs, got["write./data/new"])
				assert.Equal(t, "0", got["write./data/sub/new"])
			}, ""},
		{"nosymfollow", specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"bind", "nosymfollow"}},
			[]string{"read:/data/f", "read:/data/link"}, func(t *testing.T, got map[string]string) {
				assert.Equal(t, "x", got["read./data/f"])
				assert.Equal(t, eloop, got["err./data/link"])
			}, ""},
		{"proc hidepid", specs.Mount{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "hidepid=2"}},
			[]string{"mnt:/proc"}, func(t *testing.T, got map[string]string) {
				assert.Regexp(t, `hidepid=(2|invisible)`, got["mnt./proc"])
			}, ""},
		{"cgroup", specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro"}},
			[]string{"mnt:/sys/fs/cgroup"}, func(t *testing.T, got map[string]string) {
				assert.Contains(t, got["mnt./sys/fs/cgroup"], "ro")
			}, map[bool]string{false: "mounts[7].type"}[unified]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			spec := baseSpec(tc.args...)
			if tc.mnt.Destination == "/proc" {
				spec.Mounts[0] = tc.mnt
			} else {
				spec.Mounts = append(spec.Mounts, tc.mnt)
			}
			res := csrun(t, "--root", root, "run", "--bundle", newBundle(t, spec), "mnt")
			if tc.field != "" {
				var fe *bundle.FieldError
				require.ErrorAs(t, res.err, &fe)
				assert.Equal(t, tc.field, fe.Field)
				noLeaks(t, root)
				return
			}
			require.NoError(t, res.err, res.stderr)
			tc.check(t, kv(res.stdout))
			noLeaks(t, root)
		})
	}
}

// --no-pivot switches root with mount --move and chroot, and says so;
// without it csrun pivots (and would fail rather than fall back).
func TestNoPivot(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		flags []string
		want  string
	}{{nil, "pivot_root"}, {[]string{"--no-pivot"}, "move_chroot"}} {
		t.Run(tc.want, func(t *testing.T) {
			root := t.TempDir()
			timings := filepath.Join(t.TempDir(), "t.json")
			args := append([]string{"--root", root, "--phase-timings", timings, "run"}, tc.flags...)
			res := csrun(t, append(args, "--bundle", newBundle(t, baseSpec("cwd")), "np")...)
			require.NoError(t, res.err, res.stderr)
			assert.Equal(t, "/", kv(res.stdout)["cwd"])
			assert.Equal(t, tc.want, readTimings(t, timings).RootSwitch)
			noLeaks(t, root)
		})
	}
}

// A container in a cgroup of its own: cgroupsPath under the cgroup2 mount,
// the limits this host's hierarchy offers (hugetlb), the device rules as an
// eBPF filter, a cgroup namespace rooted there, and the cgroup removed
// when the container is.
func TestCgroup(t *testing.T) {
	if !cgrouptest.InCgroup2(t) {
		return
	}
	requireRoot(t)
	avail := cgrouptest.Controllers(t)
	path := fmt.Sprintf("/csrun-test-%d/c1", os.Getpid())
	t.Cleanup(func() { os.Remove("/sys/fs/cgroup" + path); os.Remove(filepath.Dir("/sys/fs/cgroup" + path)) })
	for _, tc := range []struct {
		name    string
		devices []specs.LinuxDeviceCgroup
		open    string // errno opening /dev/loop-control (10:237) read-write
	}{
		{"engine rules", []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, fmt.Sprint(int(unix.EPERM))},
		{"no rules", nil, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			timings := filepath.Join(t.TempDir(), "t.json")
			spec := baseSpec("cgroup", "write:/dev/loop-control", "read:/dev/null", "read:/sys/fs/cgroup/hugetlb.2MB.max", "read:/sys/fs/cgroup/cgroup.procs")
			spec.Mounts = append(spec.Mounts,
				specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2", Options: []string{"nosuid", "noexec", "nodev"}},
				specs.Mount{Destination: "/dev/loop-control", Type: "bind", Source: "/dev/loop-control", Options: []string{"bind"}})
			spec.Linux.CgroupsPath = path
			spec.Linux.Resources = &specs.LinuxResources{Devices: tc.devices}
			if slices.Contains(avail, "hugetlb") {
				spec.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
			}
			res := csrun(t, "--root", root, "--phase-timings", timings, "run", "--bundle", newBundle(t, spec), "cg")
			require.NoError(t, res.err, res.stderr)
			got := kv(res.stdout)
			assert.Equal(t, "0::/", got["cgroup"], "cgroup namespace rooted at the container's cgroup")
			assert.Equal(t, tc.open, got["write./dev/loop-control"], "device filter")
			assert.Equal(t, "", got["read./dev/null"], "/dev/null allowed (runc's default rules)")
			assert.Equal(t, "1", got["read./sys/fs/cgroup/cgroup.procs"], "the container's process in its cgroup")
			if slices.Contains(avail, "hugetlb") {
				assert.Equal(t, "4194304", got["read./sys/fs/cgroup/hugetlb.2MB.max"])
			}
			var phases []string
			for _, p := range readTimings(t, timings).Phases {
				phases = append(phases, p.Name)
			}
			assert.Contains(t, phases, container.PhaseCgroup)
			_, err := os.Stat("/sys/fs/cgroup" + path)
			assert.True(t, errors.Is(err, os.ErrNotExist), "cgroup left behind")
			noLeaks(t, root)
		})
	}

	// What the hierarchy lacks is refused naming the field and controller.
	if !slices.Contains(avail, "memory") {
		root := t.TempDir()
		spec := baseSpec()
		spec.Linux.CgroupsPath = path
		spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}}
		res := csrun(t, "--root", root, "run", "--bundle", newBundle(t, spec), "cg")
		var me *cgroups.MissingControllerError
		require.ErrorAs(t, res.err, &me)
		assert.Equal(t, "linux.resources.memory.limit", me.Field)
		assert.Equal(t, "memory", me.Controller)
		ents, _ := os.ReadDir(root)
		assert.Empty(t, ents, "state left behind")
	}
}

// runc's global flags: --log (text or json) gets the error, --systemd-cgroup
// is refused saying why.
func TestGlobalFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, line string)
	}{
		{"json", func(t *testing.T, line string) {
			var e struct{ Level, Msg, Time string }
			require.NoError(t, json.Unmarshal([]byte(line), &e), line)
			assert.Equal(t, "error", e.Level)
			assert.Contains(t, e.Msg, "does not exist")
			_, err := time.Parse(time.RFC3339Nano, e.Time)
			assert.NoError(t, err)
		}},
		{"text", func(t *testing.T, line string) {
			assert.Regexp(t, `^time="[^"]+" level=error msg=".*does not exist.*"$`, line)
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			log := filepath.Join(dir, tc.format+".log")
			res := csrun(t, "--root", dir, "--log", log, "--log-format", tc.format, "state", "nope")
			require.ErrorIs(t, res.err, container.ErrNotExist)
			data, err := os.ReadFile(log)
			require.NoError(t, err)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			require.Len(t, lines, 1)
			tc.check(t, lines[0])
		})
	}
	res := csrun(t, "--root", dir, "--log-format", "xml", "state", "nope")
	assert.ErrorContains(t, res.err, "--log-format")
	res = csrun(t, "--root", dir, "--systemd-cgroup", "state", "nope")
	assert.ErrorContains(t, res.err, "systemd cgroup driver")
}

// The six kinds of hooks run where and when the runtime-spec says, with
// the state on stdin, for run and for create/start/delete; a failing
// create-time hook fails the container naming it, a failing poststart or
// poststop is a warning, a timeout kills the hook.
func TestHooks(t *testing.T) {
	requireRoot(t)
	logDir := t.TempDir()
	hooksFor := func(b, log string) *specs.Hooks {
		host := filepath.Join(b, "rootfs", "bin", "probe") // the runtime's view
		h := func(path, name string) []specs.Hook {
			l := log
			if name == "startContainer" {
				l = "/hooklog/" + filepath.Base(log) // inside the container
			}
			return []specs.Hook{{Path: path, Args: []string{"probe", "hook:" + name + ":" + l}}}
		}
		return &specs.Hooks{
			Prestart: h(host, "prestart"), CreateRuntime: h(host, "createRuntime"), CreateContainer: h(host, "createContainer"),
			StartContainer: h("/bin/probe", "startContainer"), Poststart: h(host, "poststart"), Poststop: h(host, "poststop"),
		}
	}
	want := "prestart creating h true\ncreateRuntime creating h true\ncreateContainer creating h true\n" +
		"startContainer created h true\npoststart running h true\npoststop stopped h true\n"
	withHooks := func(t *testing.T, log string, edit func(*specs.Hooks)) string {
		spec := baseSpec("hostname")
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/hooklog", Type: "bind", Source: logDir, Options: []string{"bind"}})
		b := newBundle(t, spec)
		spec.Hooks = hooksFor(b, log)
		if edit != nil {
			edit(spec.Hooks)
		}
		writeSpec(t, b, spec)
		return b
	}

	t.Run("run", func(t *testing.T) {
		root, log := t.TempDir(), filepath.Join(logDir, "run.log")
		res := csrun(t, "--root", root, "run", "--bundle", withHooks(t, log, nil), "h")
		require.NoError(t, res.err, res.stderr)
		assert.Equal(t, "csrun-test", kv(res.stdout)["hostname"])
		data, _ := os.ReadFile(log)
		assert.Equal(t, want, string(data))
		noLeaks(t, root)
	})
	t.Run("create start delete", func(t *testing.T) {
		root, log := t.TempDir(), filepath.Join(logDir, "split.log")
		b := withHooks(t, log, nil)
		res := csrun(t, "--root", root, "create", "--bundle", b, "h")
		require.NoError(t, res.err, res.stderr)
		data, _ := os.ReadFile(log)
		assert.Equal(t, "prestart creating h true\ncreateRuntime creating h true\ncreateContainer creating h true\n", string(data))
		require.NoError(t, csrun(t, "--root", root, "start", "h").err)
		deadline := time.Now().Add(10 * time.Second)
		for state2(t, root, "h").Status != specs.StateStopped && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		var ws unix.WaitStatus
		unix.Wait4(-1, &ws, 0, nil) // reap the container (we are its subreaper)
		require.NoError(t, csrun(t, "--root", root, "delete", "h").err)
		data, _ = os.ReadFile(log)
		assert.Equal(t, want, string(data))
		noLeaks(t, root)
	})
	for _, tc := range []struct {
		name  string
		edit  func(h *specs.Hooks)
		field string // "" when the container still runs
		warn  string
	}{
		{"createRuntime fails", func(h *specs.Hooks) { h.CreateRuntime[0].Args = []string{"probe", "exit:3"} }, "hooks.createRuntime[0]", ""},
		{"createContainer fails", func(h *specs.Hooks) { h.CreateContainer[0].Args = []string{"probe", "exit:3"} }, "hooks.createContainer[0]", ""},
		{"startContainer fails", func(h *specs.Hooks) { h.StartContainer[0].Args = []string{"probe", "exit:3"} }, "hooks.startContainer[0]", ""},
		{"createRuntime times out", func(h *specs.Hooks) {
			h.CreateRuntime[0].Args, h.CreateRuntime[0].Timeout = []string{"probe", "sleep:10"}, ptr(1)
		}, "hooks.createRuntime[0]", ""},
		{"createContainer times out", func(h *specs.Hooks) {
			h.CreateContainer[0].Args, h.CreateContainer[0].Timeout = []string{"probe", "sleep:10"}, ptr(1)
		}, "hooks.createContainer[0]", ""},
		{"poststart fails", func(h *specs.Hooks) { h.Poststart[0].Args = []string{"probe", "exit:3"} }, "", "hooks.poststart[0]"},
		{"poststop fails", func(h *specs.Hooks) { h.Poststop[0].Args = []string{"probe", "exit:3"} }, "", "hooks.poststop[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			log := filepath.Join(logDir, strings.ReplaceAll(tc.name, " ", "-")+".log")
			start := time.Now()
			res := csrun(t, "--root", root, "run", "--bundle", withHooks(t, log, tc.edit), "h")
			if tc.field != "" {
				require.Error(t, res.err)
				assert.ErrorContains(t, res.err, tc.field)
				var ee *container.ExitError
				assert.False(t, errors.As(res.err, &ee), "a hook failure is an error, not a container status")
				if strings.Contains(tc.name, "times out") {
					assert.Less(t, time.Since(start), 8*time.Second, "the hook was not killed at its timeout")
				}
			} else {
				require.NoError(t, res.err, res.stderr)
				assert.Contains(t, res.stderr, "warning: "+tc.warn)
			}
			noLeaks(t, root)
		})
	}
}
