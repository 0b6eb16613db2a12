package cgroups

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"coldstart/runtime/bundle"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A Write is one interface file of the cgroup to write.
type Write struct {
	Field      string // the config.json field it comes from
	Controller string // the controller that owns the file; "" for the core (cgroup.*)
	File       string
	Value      string
	// Alt, if set, is written instead when File does not exist (io.weight
	// for io.bfq.weight where BFQ is not the scheduler), with AltValue.
	Alt, AltValue string
}

func refuse(field, reason string) error {
	return &bundle.FieldError{Field: field, Reason: reason, Err: bundle.ErrUnsupported}
}

func invalid(field, format string, a ...any) error {
	return &bundle.FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

func max(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// Writes turns linux.resources, except the device rules, into cgroup v2
// interface files, converting the v1-shaped fields as runc does. A field
// that has no cgroup v2 equivalent is refused naming it, never dropped.
func Writes(r *specs.LinuxResources) ([]Write, error) {
	if r == nil {
		return nil, nil
	}
	const f = "linux.resources"
	var w []Write
	add := func(field, ctrl, file, value string) {
		w = append(w, Write{Field: f + "." + field, Controller: ctrl, File: file, Value: value})
	}
	if m := r.Memory; m != nil {
		switch {
		case m.Kernel != nil:
			return nil, refuse(f+".memory.kernel", "kernel memory limits do not exist in cgroup v2 (remove the field)")
		case m.KernelTCP != nil:
			return nil, refuse(f+".memory.kernelTCP", "kernel TCP memory limits do not exist in cgroup v2 (remove the field)")
		case m.Swappiness != nil:
			return nil, refuse(f+".memory.swappiness", "cgroup v2 has no per-cgroup swappiness")
		case m.DisableOOMKiller != nil && *m.DisableOOMKiller:
			return nil, refuse(f+".memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer")
		case m.UseHierarchy != nil && !*m.UseHierarchy:
			return nil, refuse(f+".memory.useHierarchy", "false: cgroup v2 is always hierarchical")
		}
		// checkBeforeUpdate concerns updates only; csrun has no update.
		var limit int64
		if m.Limit != nil {
			limit = *m.Limit
			add("memory.limit", "memory", "memory.max", max(limit))
		}
		if m.Reservation != nil {
			add("memory.reservation", "memory", "memory.low", max(*m.Reservation))
		}
		if m.Swap != nil {
			// v1's swap limit is memory+swap; v2's is swap alone.
			swap := *m.Swap
			switch {
			case swap == -1 || (swap == 0 && limit == -1):
				add("memory.swap", "memory", "memory.swap.max", "max")
			case swap == 0:
			case limit <= 0:
				return nil, invalid(f+".memory.swap", "a swap limit needs a memory limit")
			case swap < limit:
				return nil, invalid(f+".memory.swap", "%d is below memory.limit %d (it is memory+swap)", swap, limit)
			default:
				add("memory.swap", "memory", "memory.swap.max", strconv.FormatInt(swap-limit, 10))
			}
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		v := "max"
		if *p.Limit > 0 {
			v = strconv.FormatInt(*p.Limit, 10)
		}
		add("pids.limit", "pids", "pids.max", v)
	}
	if c := r.CPU; c != nil {
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
			return nil, refuse(f+".cpu.realtimeRuntime", "real-time CPU time is not a cgroup v2 control")
		}
		if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
			return nil, refuse(f+".cpu.realtimePeriod", "real-time CPU time is not a cgroup v2 control")
		}
		if c.Shares != nil && *c.Shares != 0 {
			s := *c.Shares
			if s < 2 || s > 262144 {
				return nil, invalid(f+".cpu.shares", "%d: want 2 to 262144", s)
			}
			add("cpu.shares", "cpu", "cpu.weight", strconv.FormatUint(1+((s-2)*9999)/262142, 10))
		}
		if (c.Quota != nil && *c.Quota != 0) || (c.Period != nil && *c.Period != 0) {
			v := "max"
			if c.Quota != nil && *c.Quota > 0 {
				v = strconv.FormatInt(*c.Quota, 10)
			}
			period := uint64(100000)
			if c.Period != nil && *c.Period != 0 {
				period = *c.Period
			}
			add("cpu.quota", "cpu", "cpu.max", v+" "+strconv.FormatUint(period, 10))
		}
		if c.Burst != nil {
			add("cpu.burst", "cpu", "cpu.max.burst", strconv.FormatUint(*c.Burst, 10))
		}
		if c.Idle != nil {
			add("cpu.idle", "cpu", "cpu.idle", strconv.FormatInt(*c.Idle, 10))
		}
		if c.Cpus != "" {
			add("cpu.cpus", "cpuset", "cpuset.cpus", c.Cpus)
		}
		if c.Mems != "" {
			add("cpu.mems", "cpuset", "cpuset.mems", c.Mems)
		}
	}
	if b := r.BlockIO; b != nil {
		if b.LeafWeight != nil {
			return nil, refuse(f+".blockIO.leafWeight", "leaf weights do not exist in cgroup v2")
		}
		if b.Weight != nil && *b.Weight != 0 {
			v := uint64(*b.Weight)
			if v < 10 || v > 1000 {
				return nil, invalid(f+".blockIO.weight", "%d: want 10 to 1000", v)
			}
			w = append(w, Write{Field: f + ".blockIO.weight", Controller: "io", File: "io.bfq.weight",
				Value: strconv.FormatUint(v, 10), Alt: "io.weight", AltValue: "default " + strconv.FormatUint(1+(v-10)*9999/990, 10)})
		}
		for i, d := range b.WeightDevice {
			field := fmt.Sprintf("blockIO.weightDevice[%d]", i)
			if d.LeafWeight != nil {
				return nil, refuse(f+"."+field+".leafWeight", "leaf weights do not exist in cgroup v2")
			}
			if d.Weight != nil {
				add(field+".weight", "io", "io.bfq.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight))
			}
		}
		for _, t := range []struct {
			name string
			devs []specs.LinuxThrottleDevice
			key  string
		}{
			{"throttleReadBpsDevice", b.ThrottleReadBpsDevice, "rbps"}, {"throttleWriteBpsDevice", b.ThrottleWriteBpsDevice, "wbps"},
			{"throttleReadIOPSDevice", b.ThrottleReadIOPSDevice, "riops"}, {"throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice, "wiops"},
		} {
			for i, d := range t.devs {
				v := strconv.FormatUint(d.Rate, 10)
				if d.Rate == 0 {
					v = "max"
				}
				add(fmt.Sprintf("blockIO.%s[%d]", t.name, i), "io", "io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, v))
			}
		}
	}
	for i, h := range r.HugepageLimits {
		field := fmt.Sprintf("hugepageLimits[%d]", i)
		if !validPageSize(h.Pagesize) {
			return nil, invalid(f+"."+field+".pageSize", "%q: want a size such as 2MB or 1GB", h.Pagesize)
		}
		add(field, "hugetlb", "hugetlb."+h.Pagesize+".max", strconv.FormatUint(h.Limit, 10))
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return nil, refuse(f+".network", "net_cls and net_prio are cgroup v1 controllers")
	}
	for _, dev := range sortedKeys(r.Rdma) {
		l := r.Rdma[dev]
		var parts []string
		if l.HcaHandles != nil {
			parts = append(parts, fmt.Sprintf("hca_handle=%d", *l.HcaHandles))
		}
		if l.HcaObjects != nil {
			parts = append(parts, fmt.Sprintf("hca_object=%d", *l.HcaObjects))
		}
		if len(parts) > 0 {
			add(fmt.Sprintf("rdma[%q]", dev), "rdma", "rdma.max", dev+" "+strings.Join(parts, " "))
		}
	}
	for _, k := range sortedKeys(r.Unified) {
		field := fmt.Sprintf("unified[%q]", k)
		if k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." {
			return nil, invalid(f+"."+field, "not a cgroup interface file name")
		}
		switch k {
		case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.kill", "cgroup.freeze":
			return nil, refuse(f+"."+field, "csrun manages this file itself")
		}
		ctrl, _, ok := strings.Cut(k, ".")
		if !ok {
			return nil, invalid(f+"."+field, "not a cgroup interface file name (controller.file)")
		}
		if ctrl == "cgroup" {
			ctrl = ""
		}
		add(field, ctrl, k, r.Unified[k])
	}
	return w, nil
}

func validPageSize(s string) bool {
	n := strings.TrimRight(s, "KMGB")
	if n == "" || n == s || !strings.HasSuffix(s, "B") {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 32)
	return err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
