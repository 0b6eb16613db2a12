package bundle

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Each testdata/*.json is a config.json; its .golden file holds the error
// Parse returns ("ok" when it is accepted). A mismatch writes a .got file.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			got := "ok"
			if _, err := Parse(data); err != nil {
				got = err.Error()
			}
			got += "\n"
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			if string(want) != got {
				os.WriteFile(strings.TrimSuffix(f, ".json")+".got", []byte(got), 0o644)
				t.Errorf("Parse(%s) mismatch (-want +got):\n-%s+%s", f, want, got)
			}
		})
	}
}

func TestFieldErrorUnwrap(t *testing.T) {
	_, err := Parse([]byte(`{"ociVersion":"1.0.0","root":{"path":"r"},"process":{"cwd":"/","args":["a"],"user":{"uid":0,"gid":0}},"linux":{"intelRdt":{},"namespaces":[{"type":"mount"}]}}`))
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUnsupported))
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "linux.intelRdt", fe.Field)
}

func TestLoadRelativeRoot(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "rootfs"), 0o755))
	data, err := os.ReadFile("testdata/runc-spec.json")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
	b, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "rootfs"), b.Rootfs)

	require.NoError(t, os.Remove(filepath.Join(dir, "rootfs")))
	_, err = Load(dir)
	assert.ErrorContains(t, err, "root.path")
}

// document must know every field runtime-spec's Spec and Linux have, or a
// field csrun refuses would be reported as unknown rather than unsupported
// (and one it implements would be refused).
func TestDocumentMirrorsSpec(t *testing.T) {
	names := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := 0; i < rt.NumField(); i++ {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			out = append(out, name)
		}
		sort.Strings(out)
		return out
	}
	assert.Equal(t, names(specs.Spec{}), names(document{}))
	assert.Equal(t, names(specs.Linux{}), names(linuxDocument{}))
}

// Sections csrun refuses are refused when they hold something, and
// accepted when null (or, for the maps, empty), as with runtime-spec's types.
func TestRefusedSectionsNullOrEmpty(t *testing.T) {
	base := `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},` +
		`"linux":{"namespaces":[{"type":"mount"}]%s}%s}`
	for _, tc := range []struct{ linux, top, refused string }{
		{`,"resources":null`, ``, ""},
		{`,"resources":{}`, ``, ""},
		{`,"netDevices":{}`, ``, ""},
		{`,"netDevices":{"eth0":{}}`, ``, "linux.netDevices"},
		{`,"timeOffsets":{"monotonic":{"secs":1}}`, ``, "linux.timeOffsets"},
		{`,"intelRdt":{"closID":"x"}`, ``, "linux.intelRdt"},
		{``, `,"hooks":null`, ""},
		{``, `,"hooks":{"prestart":[]}`, ""},
		{``, `,"windows":null`, ""},
		{``, `,"windows":{}`, "windows"},
	} {
		_, err := Parse([]byte(fmt.Sprintf(base, tc.linux, tc.top)))
		if tc.refused == "" {
			assert.NoError(t, err, "%s%s", tc.linux, tc.top)
			continue
		}
		var fe *FieldError
		require.ErrorAs(t, err, &fe, "%s%s", tc.linux, tc.top)
		assert.Equal(t, tc.refused, fe.Field)
		assert.ErrorIs(t, err, ErrUnsupported)
	}
}

// FuzzValidateConfig: Parse never panics, and whatever it accepts has the
// invariants the init stage relies on.
func FuzzValidateConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if s.Process == nil || len(s.Process.Args) == 0 || s.Linux == nil || s.Root == nil {
			t.Fatalf("accepted an incomplete or unsupported spec: %s", data)
		}
		for _, m := range s.Mounts {
			if !filepath.IsAbs(m.Destination) {
				t.Fatalf("accepted relative mount destination %q", m.Destination)
			}
		}
	})
}

// minimal is a valid spec with the given namespaces.
func minimal(ns ...specs.LinuxNamespaceType) *specs.Spec {
	s := &specs.Spec{Version: "1.0.2", Root: &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"}, Linux: &specs.Linux{}}
	for _, t := range append([]specs.LinuxNamespaceType{specs.MountNamespace}, ns...) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t})
	}
	return s
}

// Only sysctls of a namespace the container owns are accepted, as runc.
func TestValidateSysctl(t *testing.T) {
	all := []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace}
	for _, tc := range []struct {
		key      string
		ns       []specs.LinuxNamespaceType
		hostname string
		reason   string // "" when accepted
	}{
		{"net.ipv4.ip_forward", all, "", ""},
		{"net/ipv4/conf/eth0.100/forwarding", all, "", ""},
		{"kernel.shmmax", all, "", ""},
		{"kernel.msgmnb", all, "", ""},
		{"kernel.sem", all, "", ""},
		{"fs.mqueue.msg_max", all, "", ""},
		{"kernel.domainname", all, "", ""},
		{"kernel.hostname", all, "", ""},
		{"kernel.hostname", all, "h", "conflicts with the hostname field"},
		{"net.ipv4.ip_forward", nil, "", "own network namespace"},
		{"kernel.shmmax", []specs.LinuxNamespaceType{specs.NetworkNamespace}, "", "own ipc namespace"},
		{"fs.mqueue.queues_max", nil, "", "own ipc namespace"},
		{"kernel.domainname", nil, "", "own uts namespace"},
		{"kernel.core_pattern", all, "", "would change the host"},
		{"vm.overcommit_memory", all, "", "would change the host"},
		{"kernel/core_pattern", all, "", "would change the host"},
		{"net/../kernel/core_pattern", all, "", "bad key"},
		{"", all, "", "bad key"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			s := minimal(tc.ns...)
			s.Hostname = tc.hostname
			s.Linux.Sysctl = map[string]string{tc.key: "1"}
			err := Validate(s)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, fmt.Sprintf("linux.sysctl[%q]", tc.key), fe.Field)
			assert.Contains(t, fe.Reason, tc.reason)
		})
	}
	assert.Equal(t, "/proc/sys/net/ipv4/ip_forward", SysctlPath("net.ipv4.ip_forward"))
	assert.Equal(t, "/proc/sys/net/ipv4/conf/eth0.100/forwarding", SysctlPath("net/ipv4/conf/eth0.100/forwarding"))
}

// Mount options are flags, propagation, recursive attributes or data for
// the filesystem; a bind mount has no filesystem, so data there is refused.
func TestValidateMountOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mnt   specs.Mount
		field string // "" when accepted
	}{
		{"bind flags", specs.Mount{Destination: "/a", Type: "bind", Source: "/x", Options: []string{"rbind", "ro", "nosuid", "rprivate"}}, ""},
		{"bind rro", specs.Mount{Destination: "/a", Type: "bind", Source: "/x", Options: []string{"rbind", "rro"}}, ""},
		{"bind nosymfollow", specs.Mount{Destination: "/a", Source: "/x", Options: []string{"bind", "nosymfollow"}}, ""},
		{"bind recursive atime", specs.Mount{Destination: "/a", Type: "bind", Source: "/x", Options: []string{"rbind", "rnoatime", "rnosymfollow"}}, ""},
		{"bind data", specs.Mount{Destination: "/a", Type: "bind", Source: "/x", Options: []string{"rbind", "size=1m"}}, "mounts[0].options[1]"},
		{"bind unknown word", specs.Mount{Destination: "/a", Source: "/x", Options: []string{"rbind", "frobnicate"}}, "mounts[0].options[1]"},
		{"tmpfs data", specs.Mount{Destination: "/a", Type: "tmpfs", Options: []string{"size=1m", "mode=755"}}, ""},
		{"proc hidepid", specs.Mount{Destination: "/proc", Type: "proc", Options: []string{"hidepid=2", "subset=pid"}}, ""},
		{"cgroup2 nsdelegate", specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Options: []string{"nsdelegate"}}, ""},
		{"idmap", specs.Mount{Destination: "/a", Type: "bind", Source: "/x", Options: []string{"rbind", "idmap"}}, "mounts[0].options[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := minimal()
			s.Mounts = []specs.Mount{tc.mnt}
			err := Validate(s)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			assert.ErrorIs(t, err, ErrUnsupported)
		})
	}
}
