package cgroups

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A DeviceRule is one rule of the device filter. Major and Minor -1 match
// any; Type 'a' matches both char and block devices.
type DeviceRule struct {
	Field        string // config.json field, for errors
	Allow        bool
	Type         byte // 'c', 'b' or 'a'
	Major, Minor int64
	Access       string // of "rwm"
}

// DefaultDeviceRules are the rules runc appends to every container's: mknod
// of any device, and the standard devices. csrun appends them too, so that
// a bundle runs the same under both.
var DefaultDeviceRules = []DeviceRule{
	{Allow: true, Type: 'c', Major: -1, Minor: -1, Access: "m"},
	{Allow: true, Type: 'b', Major: -1, Minor: -1, Access: "m"},
	{Allow: true, Type: 'c', Major: 1, Minor: 3, Access: "rwm"},    // null
	{Allow: true, Type: 'c', Major: 1, Minor: 8, Access: "rwm"},    // random
	{Allow: true, Type: 'c', Major: 1, Minor: 7, Access: "rwm"},    // full
	{Allow: true, Type: 'c', Major: 5, Minor: 0, Access: "rwm"},    // tty
	{Allow: true, Type: 'c', Major: 1, Minor: 5, Access: "rwm"},    // zero
	{Allow: true, Type: 'c', Major: 1, Minor: 9, Access: "rwm"},    // urandom
	{Allow: true, Type: 'c', Major: 136, Minor: -1, Access: "rwm"}, // pts
	{Allow: true, Type: 'c', Major: 5, Minor: 2, Access: "rwm"},    // ptmx
	{Allow: true, Type: 'c', Major: 10, Minor: 200, Access: "rwm"}, // tun
}

// DeviceRules collects the rules of a container, in order: those of
// linux.resources.devices, an allow rule for each of linux.devices (the
// nodes csrun creates must be usable, as runc allows them) and the defaults.
func DeviceRules(l *specs.Linux) ([]DeviceRule, error) {
	var out []DeviceRule
	if l.Resources != nil {
		for i, d := range l.Resources.Devices {
			f := fmt.Sprintf("linux.resources.devices[%d]", i)
			r := DeviceRule{Field: f, Allow: d.Allow, Type: 'a', Major: -1, Minor: -1, Access: d.Access}
			switch d.Type {
			case "", "a":
			case "c", "b":
				r.Type = d.Type[0]
			default:
				return nil, invalid(f+".type", "%q: want a, c or b", d.Type)
			}
			if d.Major != nil {
				r.Major = *d.Major
			}
			if d.Minor != nil {
				r.Minor = *d.Minor
			}
			if r.Access == "" {
				r.Access = "rwm"
			}
			if err := checkRule(r); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	for i, d := range l.Devices {
		t := byte('c')
		switch d.Type {
		case "b":
			t = 'b'
		case "p":
			continue // a fifo is no device to the filter
		}
		out = append(out, DeviceRule{Field: fmt.Sprintf("linux.devices[%d]", i), Allow: true, Type: t, Major: d.Major, Minor: d.Minor, Access: "rwm"})
	}
	return append(out, DefaultDeviceRules...), nil
}

func checkRule(r DeviceRule) error {
	for _, n := range []struct {
		name string
		v    int64
	}{{"major", r.Major}, {"minor", r.Minor}} {
		if n.v < -1 || n.v > math.MaxInt32 {
			return invalid(r.Field+"."+n.name, "%d out of range", n.v)
		}
	}
	if _, err := accessBits(r.Access); err != nil {
		return invalid(r.Field+".access", "%v", err)
	}
	return nil
}

func accessBits(s string) (int32, error) {
	var a int32
	for _, c := range s {
		switch c {
		case 'r':
			a |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			a |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			a |= unix.BPF_DEVCG_ACC_MKNOD
		default:
			return 0, fmt.Errorf("%q: want a composition of r, w and m", s)
		}
	}
	return a, nil
}

const allAccess = unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE | unix.BPF_DEVCG_ACC_MKNOD

// DeviceFilter compiles rules into a BPF_PROG_TYPE_CGROUP_DEVICE program.
// The last rule that matches an access decides it, as the list reads; an
// allow rule matches an access it covers entirely, a deny rule one it
// covers in part. A rule for every device and access ("a *:* rwm") is
// where the list starts over: what precedes it can never decide, and its
// verdict is what no later rule matches gets. Without one, no match means
// allowed: a cgroup with no rules allows every device. nil (no program
// needed) when the filter would allow everything.
func DeviceFilter(rules []DeviceRule) (asm.Instructions, error) {
	deflt := true
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if a, _ := accessBits(r.Access); r.Type == 'a' && r.Major < 0 && r.Minor < 0 && a == allAccess {
			deflt, rules = r.Allow, rules[i+1:]
			break
		}
	}
	if deflt {
		deny := false
		for _, r := range rules {
			deny = deny || !r.Allow
		}
		if !deny {
			return nil, nil
		}
	}
	// struct bpf_cgroup_dev_ctx { u32 access_type (type | access << 16); u32 major, minor; }
	insts := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.And.Imm32(asm.R2, 0xFFFF), // R2 type
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),                // R3 access
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word), // R4 major
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word), // R5 minor
	}
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if err := checkRule(r); err != nil {
			return nil, err
		}
		next := "rule-" + strconv.Itoa(i-1)
		start := len(insts)
		switch r.Type {
		case 'c':
			insts = append(insts, asm.JNE.Imm(asm.R2, unix.BPF_DEVCG_DEV_CHAR, next))
		case 'b':
			insts = append(insts, asm.JNE.Imm(asm.R2, unix.BPF_DEVCG_DEV_BLOCK, next))
		}
		if a, _ := accessBits(r.Access); a != allAccess {
			insts = append(insts, asm.Mov.Reg32(asm.R1, asm.R3), asm.And.Imm32(asm.R1, a))
			if r.Allow { // the access is within the rule's: R3 & a == R3
				insts = append(insts, asm.JNE.Reg(asm.R1, asm.R3, next))
			} else { // some of the access is: R3 & a != 0
				insts = append(insts, asm.JEq.Imm(asm.R1, 0, next))
			}
		}
		if r.Major >= 0 {
			insts = append(insts, asm.JNE.Imm(asm.R4, int32(r.Major), next))
		}
		if r.Minor >= 0 {
			insts = append(insts, asm.JNE.Imm(asm.R5, int32(r.Minor), next))
		}
		insts = append(insts, asm.Mov.Imm32(asm.R0, b2i(r.Allow)), asm.Return())
		insts[start] = insts[start].WithSymbol("rule-" + strconv.Itoa(i))
	}
	insts = append(insts, asm.Mov.Imm32(asm.R0, b2i(deflt)).WithSymbol("rule--1"), asm.Return())
	return insts, nil
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// ErrNoDeviceFilter is wrapped when the kernel cannot load or attach a
// device filter (CONFIG_CGROUP_BPF, CONFIG_BPF_SYSCALL).
var ErrNoDeviceFilter = errors.New("kernel lacks cgroup device filters (CONFIG_CGROUP_BPF)")

// attachDeviceFilter loads insts and attaches them to the cgroup dirfd. The
// attachment (BPF_PROG_ATTACH, not a link) outlives csrun: the cgroup holds
// the program until it is removed.
func attachDeviceFilter(dirfd int, insts asm.Instructions) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.CGroupDevice, Instructions: insts, License: "Apache",
	})
	if err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("%w: %w", ErrNoDeviceFilter, err)
		}
		return fmt.Errorf("load the device filter: %w", err)
	}
	defer prog.Close()
	err = link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: dirfd, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	})
	if err != nil {
		return fmt.Errorf("attach the device filter: %w", err)
	}
	return nil
}
