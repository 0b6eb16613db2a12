package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"coldstart/plan"
)

func TestAllOrderAndLookup(t *testing.T) {
	want := []string{"netns", "ipcns", "utsns", "pidns", "mntns", "userns", "cgroupns", "mqueue", "clone-all"}
	require.Equal(t, want, Names())
	all := All()
	require.Len(t, all, len(want))
	for i, s := range all {
		assert.Equal(t, want[i], s.Name)
		assert.NotEmpty(t, s.Description, s.Name)
		got, err := Lookup(s.Name)
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	assert.Equal(t, "", all[4].Option, "mntns needs no option")
	assert.Equal(t, "CONFIG_IPC_NS,CONFIG_POSIX_MQUEUE", all[7].Option)
	assert.Equal(t, plan.Primitives(), Names(), "the catalogue lists the primitives this package runs")
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"", "net", "NETNS", "oci-run/csrun/none"} {
		_, err := Lookup(name)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "unknown scenario")
		assert.Contains(t, err.Error(), "netns, ipcns, utsns, pidns, mntns, userns, cgroupns, mqueue, clone-all")
		assert.NotErrorIs(t, err, ErrNotSupported)
	}
	_, err := Scenario{Name: "bogus"}.Run()
	assert.ErrorContains(t, err, "unknown scenario")
}

// fakeProc builds a proc tree in which every scenario is supported, then
// applies edit to it.
func fakeProc(t *testing.T, edit func(proc string)) string {
	proc := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "self", "ns"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "sys", "user"), 0o755))
	for _, ns := range []string{"net", "ipc", "uts", "pid", "mnt", "user", "cgroup"} {
		require.NoError(t, os.WriteFile(filepath.Join(proc, "self", "ns", ns), nil, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(proc, "sys", "user", "max_"+ns+"_namespaces"), []byte("96364\n"), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(proc, "filesystems"),
		[]byte("nodev\tsysfs\nnodev\ttmpfs\nnodev\tmqueue\n\text4\n"), 0o644))
	if edit != nil {
		edit(proc)
	}
	return proc
}

func TestCheckFakeProc(t *testing.T) {
	rm := func(rel string) func(string) {
		return func(proc string) { require.NoError(t, os.Remove(filepath.Join(proc, rel))) }
	}
	write := func(rel, content string) func(string) {
		return func(proc string) { require.NoError(t, os.WriteFile(filepath.Join(proc, rel), []byte(content), 0o644)) }
	}
	tests := []struct {
		name     string
		edit     func(proc string)
		scenario string
		option   string // "" = supported
	}{
		{"all present netns", nil, "netns", ""},
		{"all present clone-all", nil, "clone-all", ""},
		{"all present mqueue", nil, "mqueue", ""},
		{"no net ns", rm("self/ns/net"), "netns", "CONFIG_NET_NS"},
		{"no net ns, clone-all", rm("self/ns/net"), "clone-all", "CONFIG_NET_NS"},
		{"no net ns, ipcns unaffected", rm("self/ns/net"), "ipcns", ""},
		{"no ipc ns", rm("self/ns/ipc"), "ipcns", "CONFIG_IPC_NS"},
		{"no ipc ns, mqueue", rm("self/ns/ipc"), "mqueue", "CONFIG_IPC_NS"},
		{"no uts ns", rm("self/ns/uts"), "utsns", "CONFIG_UTS_NS"},
		{"no pid ns", rm("self/ns/pid"), "pidns", "CONFIG_PID_NS"},
		{"no user ns", rm("self/ns/user"), "userns", "CONFIG_USER_NS"},
		{"no user ns, clone-all needs none", rm("self/ns/user"), "clone-all", ""},
		{"no cgroup ns", rm("self/ns/cgroup"), "cgroupns", "CONFIG_CGROUPS"},
		{"no cgroup ns, clone-all", rm("self/ns/cgroup"), "clone-all", "CONFIG_CGROUPS"},
		{"mnt always there", rm("self/ns/mnt"), "mntns", ""},
		{"no mqueue fs", write("filesystems", "nodev\tsysfs\nnodev\tmqueuefs\n"), "mqueue", "CONFIG_POSIX_MQUEUE"},
		{"user ns limit 0", write("sys/user/max_user_namespaces", "0\n"), "userns", "user.max_user_namespaces"},
		{"net ns limit 0", write("sys/user/max_net_namespaces", "0\n"), "clone-all", "user.max_net_namespaces"},
		{"mnt ns limit 0", write("sys/user/max_mnt_namespaces", "0\n"), "mntns", "user.max_mnt_namespaces"},
		{"no limit files (old kernel)", rm("sys/user/max_net_namespaces"), "netns", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Lookup(tc.scenario)
			require.NoError(t, err)
			err = s.check(fakeProc(t, tc.edit))
			if tc.option == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrNotSupported)
			var ue *UnsupportedError
			require.True(t, errors.As(err, &ue), "%T %v", err, err)
			assert.Equal(t, tc.scenario, ue.Scenario)
			assert.Equal(t, tc.option, ue.Option)
			assert.Contains(t, err.Error(), tc.option)
		})
	}
}

func TestCheckUnreadableProc(t *testing.T) {
	s, _ := Lookup("mqueue")
	err := s.check(filepath.Join(t.TempDir(), "nonexistent"))
	// ns files missing → reported as unsupported before filesystems is read.
	require.ErrorIs(t, err, ErrNotSupported)
	proc := fakeProc(t, func(proc string) { require.NoError(t, os.Remove(filepath.Join(proc, "filesystems"))) })
	err = s.check(proc)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrNotSupported, "an unreadable /proc/filesystems is an error, not a verdict")
}

func TestCheckHost(t *testing.T) {
	for _, s := range All() {
		err := s.Check()
		if err != nil {
			require.ErrorIs(t, err, ErrNotSupported, s.Name)
			t.Logf("%s: %v", s.Name, err)
		}
	}
}

// TestCloneErrorMapping classifies clone's errors on fake proc trees:
// "unsupported" only with evidence that the kernel lacks the namespace
// type (or a sysctl forbids it), a failure with the errno otherwise; EINVAL
// from a kernel whose namespaces exist is a failure, since a kernel that
// breaks namespace creation returns it too.
func TestCloneErrorMapping(t *testing.T) {
	rm := func(rel string) func(string) {
		return func(proc string) { require.NoError(t, os.Remove(filepath.Join(proc, rel))) }
	}
	zero := func(ns string) func(string) {
		return func(proc string) {
			require.NoError(t, os.WriteFile(filepath.Join(proc, "sys", "user", "max_"+ns+"_namespaces"), []byte("0\n"), 0o644))
		}
	}
	tests := []struct {
		name        string
		scenario    string
		edit        func(proc string)
		errno       unix.Errno
		unsupported string // expected option, "" = a failure
		contains    string
	}{
		{"EINVAL, no net ns", "netns", rm("self/ns/net"), unix.EINVAL, "CONFIG_NET_NS", "does not exist; clone(CLONE_VM|CLONE_NEWNET|SIGCHLD) returned EINVAL"},
		{"EINVAL, net ns there", "netns", nil, unix.EINVAL, "", "clone(CLONE_VM|CLONE_NEWNET|SIGCHLD): EINVAL although the kernel has these namespaces"},
		{"EINVAL, ipc ns there", "ipcns", nil, unix.EINVAL, "", "ns/ipc exist"},
		{"EINVAL, clone-all, no cgroup ns", "clone-all", rm("self/ns/cgroup"), unix.EINVAL, "CONFIG_CGROUPS", "returned EINVAL"},
		{"EINVAL, clone-all, all there", "clone-all", nil, unix.EINVAL, "", "EINVAL although"},
		{"EINVAL, mntns (always built in)", "mntns", nil, unix.EINVAL, "", "EINVAL although"},
		{"EINVAL, net ns limit 0", "netns", zero("net"), unix.EINVAL, "user.max_net_namespaces", "returned EINVAL"},
		{"EINVAL, proc unreadable", "mqueue", rm("filesystems"), unix.EINVAL, "", "could not be checked"},
		{"EPERM", "netns", nil, unix.EPERM, "", "clone(CLONE_VM|CLONE_NEWNET|SIGCHLD): EPERM"},
		{"EPERM, no net ns", "netns", rm("self/ns/net"), unix.EPERM, "", "EPERM"},
		{"ENOSPC, limit 0", "netns", zero("net"), unix.ENOSPC, "user.max_net_namespaces", "returned ENOSPC"},
		{"ENOSPC, limit reached", "netns", nil, unix.ENOSPC, "", "ENOSPC (a user.max_*_namespaces limit reached"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := lookupSpec(tc.scenario)
			require.NoError(t, err)
			err = sp.cloneErrorIn(fakeProc(t, tc.edit), tc.errno)
			assert.ErrorContains(t, err, tc.contains)
			if tc.unsupported == "" {
				assert.NotErrorIs(t, err, ErrNotSupported)
				assert.ErrorIs(t, err, tc.errno)
				return
			}
			var ue *UnsupportedError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, tc.unsupported, ue.Option)
		})
	}
}

func TestFlagNames(t *testing.T) {
	assert.Equal(t, "CLONE_VM|CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWCGROUP|SIGCHLD",
		flagNames(unix.CLONE_VM|specs[8].flags|uintptr(unix.SIGCHLD)))
	assert.Equal(t, "CLONE_NEWUSER|0x80000000", flagNames(unix.CLONE_NEWUSER|0x80000000))
}

func TestUnsupportedError(t *testing.T) {
	var err error = &UnsupportedError{Scenario: "netns", Option: "CONFIG_NET_NS", Detail: "/proc/self/ns/net does not exist"}
	assert.ErrorIs(t, err, ErrNotSupported)
	assert.Equal(t, "scenario netns: not supported by this kernel: needs CONFIG_NET_NS (/proc/self/ns/net does not exist)", err.Error())
}
