package container

import (
	"strings"
	"testing"

	"coldstart/runtime/bundle"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	const atime = unix.MOUNT_ATTR__ATIME
	for _, tc := range []struct {
		opts             []string
		flags            uintptr
		nprop            int
		attrSet, attrClr uint64
		data             string
	}{
		{[]string{"nosuid", "noexec", "nodev", "ro"}, unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RDONLY, 0, 0, 0, ""},
		{[]string{"nosuid", "strictatime", "mode=755", "size=65536k"}, unix.MS_NOSUID | unix.MS_STRICTATIME, 0, 0, 0, "mode=755,size=65536k"},
		{[]string{"rbind", "rprivate", "ro"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, 1, 0, 0, ""},
		{[]string{"ro", "rw"}, 0, 0, 0, 0, ""},
		{[]string{"newinstance", "ptmxmode=0666"}, 0, 0, 0, 0, "newinstance,ptmxmode=0666"},
		{[]string{"nosymfollow"}, unix.MS_NOSYMFOLLOW, 0, 0, 0, ""},
		{[]string{"rbind", "rro"}, unix.MS_BIND | unix.MS_REC, 0, unix.MOUNT_ATTR_RDONLY, 0, ""},
		{[]string{"rro", "rrw"}, 0, 0, 0, unix.MOUNT_ATTR_RDONLY, ""},
		{[]string{"rnoatime", "rnosymfollow"}, 0, 0, unix.MOUNT_ATTR_NOATIME | unix.MOUNT_ATTR_NOSYMFOLLOW, atime, ""},
		{[]string{"hidepid=2", "subset=pid"}, 0, 0, 0, 0, "hidepid=2,subset=pid"},
	} {
		got := parseOptions(tc.opts)
		assert.Equal(t, tc.flags, got.flags, "%v", tc.opts)
		assert.Len(t, got.prop, tc.nprop, "%v", tc.opts)
		assert.Equal(t, tc.attrSet, got.attrSet, "%v attr_set", tc.opts)
		assert.Equal(t, tc.attrClr, got.attrClr, "%v attr_clr", tc.opts)
		assert.Equal(t, tc.data, got.data, "%v", tc.opts)
	}
}

// Data for proc, sysfs, mqueue and cgroup2 reaches mount(2); a cgroup
// (v1) mount is cgroup2 only on a cgroup2 host; a bind mount never takes
// data, and no host fallback drops it.
func TestConfigMount(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mnt      specs.Mount
		unified2 bool
		typ      string
		data     string
		fallback string
		err      string // the field refused, if any
	}{
		{"proc hidepid", specs.Mount{Destination: "/proc", Type: "proc", Options: []string{"nosuid", "hidepid=2"}}, true, "proc", "hidepid=2", "", ""},
		{"proc subset", specs.Mount{Destination: "/proc", Type: "proc", Options: []string{"subset=pid"}}, true, "proc", "subset=pid", "", ""},
		{"mqueue", specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Options: []string{"nodev"}}, true, "mqueue", "", "", ""},
		{"sysfs", specs.Mount{Destination: "/sys", Type: "sysfs", Options: []string{"ro"}}, true, "sysfs", "", "/sys", ""},
		{"cgroup2 nsdelegate", specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Options: []string{"nsdelegate"}}, false, "cgroup2", "nsdelegate", "", ""},
		{"cgroup2", specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2"}, false, "cgroup2", "", "/sys/fs/cgroup", ""},
		{"cgroup on cgroup2 host", specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup"}, true, "cgroup2", "", "/sys/fs/cgroup", ""},
		{"cgroup on hybrid host", specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup"}, false, "", "", "", "mounts[0].type"},
		{"bind with data", specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "size=1m"}}, true, "", "", "", "mounts[0].options"},
		{"bind rro", specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "rro"}}, true, "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := configMount("mounts[0]", "/rootfs", tc.mnt, tc.unified2)
			if tc.err != "" {
				var fe *bundle.FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, tc.err, fe.Field)
				assert.ErrorIs(t, err, bundle.ErrUnsupported)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.typ, m.Type)
			assert.Equal(t, tc.data, m.Data)
			assert.Equal(t, tc.fallback, m.HostFallback)
		})
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"KILL": unix.SIGKILL, "SIGTERM": unix.SIGTERM, "9": unix.SIGKILL, "usr1": unix.SIGUSR1} {
		got, err := ParseSignal(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "SIGFOO", "0", "99"} {
		_, err := ParseSignal(bad)
		assert.Error(t, err, bad)
	}
}

func TestIDs(t *testing.T) {
	r := New(Options{Root: t.TempDir()})
	for _, bad := range []string{"", "../x", "a/b", "cache", ".hidden"} {
		_, err := r.dir(bad)
		assert.Error(t, err, bad)
	}
	for _, good := range []string{"a", "b0", "A_b.c+d-e", "0" + strings.Repeat("x", 127)} {
		_, err := r.dir(good)
		assert.NoError(t, err, good)
	}
	for _, bad := range []string{"-a", "_a", "a b", "a\x00", "é", "0" + strings.Repeat("x", 128)} {
		_, err := r.dir(bad)
		assert.Error(t, err, bad)
	}
	_, err := r.State("nope")
	assert.ErrorIs(t, err, ErrNotExist)
}
