package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"coldstart/runtime/bundle"
	"coldstart/runtime/cgroups/cgrouptest"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    specs.LinuxResources
		want []string // controller/file=value
		err  string   // the field refused
	}{
		{"memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(1 << 30)), Reservation: ptr(int64(1 << 20)), Swap: ptr(int64(2 << 30))}},
			[]string{"memory/memory.max=1073741824", "memory/memory.low=1048576", "memory/memory.swap.max=1073741824"}, ""},
		{"memory unlimited", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))}}, []string{"memory/memory.max=max"}, ""},
		{"memory unlimited swap too", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1)), Swap: ptr(int64(0))}},
			[]string{"memory/memory.max=max", "memory/memory.swap.max=max"}, ""},
		{"swap below limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(100)), Swap: ptr(int64(50))}}, nil, "linux.resources.memory.swap"},
		{"kernel memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: ptr(int64(1))}}, nil, "linux.resources.memory.kernel"},
		{"swappiness", specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(10))}}, nil, "linux.resources.memory.swappiness"},
		{"oom killer", specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: ptr(true)}}, nil, "linux.resources.memory.disableOOMKiller"},
		{"pids", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(100))}}, []string{"pids/pids.max=100"}, ""},
		{"pids unlimited", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(-1))}}, []string{"pids/pids.max=max"}, ""},
		{"cpu", specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0", Mems: "0"}},
			[]string{"cpu/cpu.weight=39", "cpu/cpu.max=50000 100000", "cpuset/cpuset.cpus=0", "cpuset/cpuset.mems=0"}, ""},
		{"cpu quota only", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(20000))}}, []string{"cpu/cpu.max=20000 100000"}, ""},
		{"realtime", specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(int64(1))}}, nil, "linux.resources.cpu.realtimeRuntime"},
		{"io", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500)),
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1000}}}},
			[]string{"io/io.bfq.weight=500", "io/io.max=8:0 rbps=1000"}, ""},
		{"leaf weight", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: ptr(uint16(500))}}, nil, "linux.resources.blockIO.leafWeight"},
		{"hugetlb", specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
			[]string{"hugetlb/hugetlb.2MB.max=4194304"}, ""},
		{"hugetlb bad size", specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2/../x", Limit: 1}}}, nil, "linux.resources.hugepageLimits[0].pageSize"},
		{"network", specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr(uint32(1))}}, nil, "linux.resources.network"},
		{"rdma", specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx4_0": {HcaHandles: ptr(uint32(2))}}}, []string{"rdma/rdma.max=mlx4_0 hca_handle=2"}, ""},
		{"unified", specs.LinuxResources{Unified: map[string]string{"memory.high": "1G", "cgroup.max.depth": "2"}},
			[]string{"/cgroup.max.depth=2", "memory/memory.high=1G"}, ""},
		{"unified escape", specs.LinuxResources{Unified: map[string]string{"../x": "1"}}, nil, `linux.resources.unified["../x"]`},
		{"unified procs", specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, nil, `linux.resources.unified["cgroup.procs"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Writes(&tc.r)
			if tc.err != "" {
				var fe *bundle.FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, tc.err, fe.Field)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, x := range w {
				got = append(got, fmt.Sprintf("%s/%s=%s", x.Controller, x.File, x.Value))
				assert.True(t, strings.HasPrefix(x.Field, "linux.resources."), x.Field)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDeviceFilter(t *testing.T) {
	denyAll := DeviceRule{Allow: false, Type: 'a', Major: -1, Minor: -1, Access: "rwm"}
	allowAll := denyAll
	allowAll.Allow = true
	null := DeviceRule{Allow: true, Type: 'c', Major: 1, Minor: 3, Access: "rwm"}
	for _, tc := range []struct {
		name    string
		rules   []DeviceRule
		program bool
	}{
		{"none", nil, false},
		{"allows only", []DeviceRule{null}, false},
		{"deny all then allows", append([]DeviceRule{denyAll, null}, DefaultDeviceRules...), true},
		{"deny all then allow all", []DeviceRule{denyAll, allowAll}, false},
		{"one deny", []DeviceRule{{Allow: false, Type: 'c', Major: 1, Minor: 5, Access: "r"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			insts, err := DeviceFilter(tc.rules)
			require.NoError(t, err)
			assert.Equal(t, tc.program, insts != nil)
		})
	}
	_, err := DeviceRules(&specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}}})
	var fe *bundle.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "linux.resources.devices[0].type", fe.Field)
}

// Create in what this host's cgroup2 hierarchy offers: a cgroup with the
// controllers it has (hugetlb here), a clear refusal for those it lacks,
// the device filter attached, and Remove.
func TestCreate(t *testing.T) {
	if !cgrouptest.InCgroup2(t) {
		return
	}
	avail := cgrouptest.Controllers(t)
	t.Logf("cgroup2 controllers offered here: %v", avail)
	dir := filepath.Join(Root, fmt.Sprintf("csrun-test-%d", os.Getpid()), "c1")
	t.Cleanup(func() { Remove(dir); Remove(filepath.Dir(dir)) })

	rules, err := DeviceRules(&specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}})
	require.NoError(t, err)
	var writes []Write
	if slices.Contains(avail, "hugetlb") {
		writes, err = Writes(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}})
		require.NoError(t, err)
	}
	cg, err := Create(Root, dir, writes, rules)
	require.NoError(t, err)
	require.NoError(t, cg.Close())
	assert.True(t, cg.Created)
	if len(writes) > 0 {
		data, err := os.ReadFile(filepath.Join(dir, "hugetlb.2MB.max"))
		require.NoError(t, err)
		assert.Equal(t, "4194304", strings.TrimSpace(string(data)))
	}
	require.NoError(t, Remove(dir))
	_, err = os.Stat(dir)
	assert.True(t, errors.Is(err, os.ErrNotExist))

	for _, c := range []struct {
		ctrl  string
		r     specs.LinuxResources
		field string
	}{
		{"memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(1 << 30))}}, "linux.resources.memory.limit"},
		{"pids", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(10))}}, "linux.resources.pids.limit"},
		{"cpu", specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(512))}}, "linux.resources.cpu.shares"},
	} {
		if slices.Contains(avail, c.ctrl) {
			continue
		}
		w, err := Writes(&c.r)
		require.NoError(t, err)
		_, err = Create(Root, dir, w, nil)
		var me *MissingControllerError
		require.ErrorAs(t, err, &me, c.ctrl)
		assert.Equal(t, c.field, me.Field)
		assert.Equal(t, c.ctrl, me.Controller)
		assert.ErrorIs(t, err, ErrNotSupported)
		_, err = os.Stat(dir)
		assert.True(t, errors.Is(err, os.ErrNotExist), "nothing left after a refusal")
	}
}
