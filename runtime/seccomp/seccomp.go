// Package seccomp compiles an OCI linux.seccomp profile into a classic BPF
// program with libseccomp (through libseccomp-golang). It is the only
// package of csrun that uses cgo; loading a compiled program needs no
// libseccomp (see runtime/internal/linux.LoadSeccomp), which is what lets
// the BPF cache (runtime/bpfcache) skip libseccomp entirely on a hit.
//
// Semantics follow runc: syscall names this libseccomp does not know are
// skipped (profiles list names of newer kernels); conditions on distinct
// argument indexes are ANDed in one rule, while several conditions on the
// same index become one rule each (ORed); ERRNO and TRACE without errnoRet
// return EPERM.
//
// Build: needs libseccomp-dev. For a static binary link with
// -ldflags '-linkmode external -extldflags -static'.
//
// The package reads no environment variables.
package seccomp

import (
	"fmt"
	"io"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Version returns the linked libseccomp's version, e.g. "2.5.4".
func Version() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}

// Compile builds the filter described by sc and returns it as raw
// sock_filter instructions (native endian), ready for seccomp(2).
func Compile(sc *specs.LinuxSeccomp) ([]byte, error) {
	def, err := action(sc.DefaultAction, sc.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp.defaultAction: %w", err)
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("seccomp: new filter: %w", err)
	}
	defer f.Release()
	for i, a := range sc.Architectures {
		arch, err := libseccomp.GetArchFromString(archName(a))
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: %w", i, err)
		}
		if err := f.AddArch(arch); err != nil {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: %w", i, err)
		}
	}
	for i, sys := range sc.Syscalls {
		act, err := action(sys.Action, sys.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp.syscalls[%d].action: %w", i, err)
		}
		if act == def {
			continue // libseccomp refuses rules equal to the default action
		}
		conds, err := conditions(sys.Args)
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp.syscalls[%d].args: %w", i, err)
		}
		for _, name := range sys.Names {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue // unknown to this libseccomp: skipped, as runc and crun do
			}
			if err := addRule(f, nr, act, conds); err != nil {
				return nil, fmt.Errorf("linux.seccomp.syscalls[%d] %s: %w", i, name, err)
			}
		}
	}
	return export(f)
}

// addRule adds one rule per condition group (see the package comment).
func addRule(f *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, act libseccomp.ScmpAction, conds []libseccomp.ScmpCondition) error {
	if len(conds) == 0 {
		return f.AddRule(nr, act)
	}
	seen := map[uint]bool{}
	distinct := true
	for _, c := range conds {
		if seen[c.Argument] {
			distinct = false
		}
		seen[c.Argument] = true
	}
	if distinct {
		return f.AddRuleConditional(nr, act, conds)
	}
	for _, c := range conds {
		if err := f.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{c}); err != nil {
			return err
		}
	}
	return nil
}

func export(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("csrun-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("seccomp: memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "csrun-bpf")
	defer mf.Close()
	// ExportBPFMem needs libseccomp 2.6; Debian 12 has 2.5.4.
	if err := f.ExportBPF(mf); err != nil {
		return nil, fmt.Errorf("seccomp: export bpf: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seccomp: export bpf: %w", err)
	}
	prog, err := io.ReadAll(mf)
	if err != nil {
		return nil, fmt.Errorf("seccomp: export bpf: %w", err)
	}
	return prog, nil
}

func archName(a specs.Arch) string {
	s := strings.ToLower(strings.TrimPrefix(string(a), "SCMP_ARCH_"))
	if s == "x86_64" {
		return "amd64"
	}
	if s == "aarch64" {
		return "arm64"
	}
	return s
}

func action(a specs.LinuxSeccompAction, errno *uint) (libseccomp.ScmpAction, error) {
	ret := int16(unix.EPERM)
	if errno != nil {
		if *errno > 4095 {
			return libseccomp.ActInvalid, fmt.Errorf("errnoRet %d out of range", *errno)
		}
		ret = int16(*errno)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case specs.ActTrap:
		return libseccomp.ActTrap, nil
	case specs.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(ret), nil
	case specs.ActTrace:
		return libseccomp.ActTrace.SetReturnCode(ret), nil
	case specs.ActAllow:
		return libseccomp.ActAllow, nil
	case specs.ActLog:
		return libseccomp.ActLog, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("action %q not supported", a)
}

var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

func conditions(args []specs.LinuxSeccompArg) ([]libseccomp.ScmpCondition, error) {
	var out []libseccomp.ScmpCondition
	for i, a := range args {
		op, ok := operators[a.Op]
		if !ok {
			return nil, fmt.Errorf("[%d].op: unknown operator %q", i, a.Op)
		}
		var c libseccomp.ScmpCondition
		var err error
		if op == libseccomp.CompareMaskedEqual {
			// OCI: value is the mask, valueTwo the datum (as runc).
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		} else {
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value)
		}
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Resolve looks up every syscall name of sc with libseccomp, as Compile
// does first, and returns how many it knew: the name-resolution step alone,
// which libseccomp 2.5 made a perfect-hash lookup.
func Resolve(sc *specs.LinuxSeccomp) int {
	n := 0
	for _, sys := range sc.Syscalls {
		for _, name := range sys.Names {
			if _, err := libseccomp.GetSyscallFromName(name); err == nil {
				n++
			}
		}
	}
	return n
}
