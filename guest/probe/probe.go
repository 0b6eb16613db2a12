// Package probe checks, from inside a container, that the runtime isolated
// it the way its bundle asked: no_new_privs set, masked paths masked,
// read-only paths read-only, only the bundle's capabilities, a PID
// namespace of its own, and no way back to the guest's root file system
// (the initramfs copy holding /bbin/csrun, /init and the bundles) after
// pivot_root.
//
// It runs as the process of the "probe" bundle (harness/benchbundle),
// started by each runtime in the isolation/<runtime> scenarios
// (guest/runtimes): cmd/csprobe prints one line per check and exits 1 when
// any fails, so a runtime that leaks shows up as a failed scenario with the
// reason.
//
// Environment: none.
package probe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Expect is what the bundle asked for.
type Expect struct {
	MaskedPaths   []string
	ReadonlyPaths []string
	// CapEff is the effective capability mask the bundle grants.
	CapEff uint64
	// HostOnly are paths of the guest's own root that must not be
	// reachable from the container, through / or any mount point.
	HostOnly []string
	// ProcRoot is where procfs is mounted (default /proc; tests point it
	// elsewhere).
	ProcRoot string
}

// Result is one check.
type Result struct {
	Check string
	OK    bool
	Info  string
}

func (r Result) String() string {
	s := "ok  "
	if !r.OK {
		s = "FAIL"
	}
	return fmt.Sprintf("%s %s: %s", s, r.Check, r.Info)
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if !r.OK {
			return true
		}
	}
	return false
}

// Run runs every check.
func Run(e Expect) []Result {
	if e.ProcRoot == "" {
		e.ProcRoot = "/proc"
	}
	var rs []Result
	rs = append(rs, noNewPrivs(e))
	rs = append(rs, caps(e))
	for _, p := range e.MaskedPaths {
		rs = append(rs, masked(p))
	}
	for _, p := range e.ReadonlyPaths {
		rs = append(rs, readonly(p))
	}
	rs = append(rs, pidNamespace(e))
	rs = append(rs, rootSealed(e))
	return rs
}

// status reads a field of /proc/self/status.
func status(e Expect, field string) (string, error) {
	f, err := os.Open(filepath.Join(e.ProcRoot, "self/status"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no %s in %s/self/status", field, e.ProcRoot)
}

func noNewPrivs(e Expect) Result {
	r := Result{Check: "no_new_privs"}
	// The prctl is the kernel's own answer; /proc/self/status says the same
	// where the field exists (4.10+).
	v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		r.Info = fmt.Sprintf("prctl(PR_GET_NO_NEW_PRIVS): %v", err)
		return r
	}
	r.OK = v == 1
	r.Info = fmt.Sprintf("PR_GET_NO_NEW_PRIVS = %d", v)
	return r
}

func caps(e Expect) Result {
	r := Result{Check: "capabilities"}
	v, err := status(e, "CapEff")
	if err != nil {
		r.Info = err.Error()
		return r
	}
	got, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		r.Info = fmt.Sprintf("CapEff %q: %v", v, err)
		return r
	}
	r.OK = got == e.CapEff
	r.Info = fmt.Sprintf("CapEff %#x, want %#x", got, e.CapEff)
	return r
}

// masked: a masked file reads as empty (runc and crun bind /dev/null over
// it), a masked directory lists nothing (an empty read-only tmpfs). A path
// the kernel does not have is fine: nothing to leak.
func masked(p string) Result {
	r := Result{Check: "masked " + p}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		r.OK, r.Info = true, "absent on this kernel"
		return r
	}
	if err != nil {
		// Permission refused is masked enough.
		r.OK, r.Info = errors.Is(err, os.ErrPermission), fmt.Sprintf("stat: %v", err)
		return r
	}
	if fi.IsDir() {
		ents, err := os.ReadDir(p)
		if err != nil {
			r.OK, r.Info = errors.Is(err, os.ErrPermission), fmt.Sprintf("readdir: %v", err)
			return r
		}
		r.OK = len(ents) == 0
		r.Info = fmt.Sprintf("directory with %d entries", len(ents))
		return r
	}
	f, err := os.Open(p)
	if err != nil {
		r.OK, r.Info = errors.Is(err, os.ErrPermission), fmt.Sprintf("open: %v", err)
		return r
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, io.LimitReader(f, 4096))
	if err != nil && n == 0 {
		// Some /proc files refuse to be read at all (EIO, EPERM): not
		// readable is not leaking.
		r.OK, r.Info = true, fmt.Sprintf("unreadable: %v", err)
		return r
	}
	r.OK = n == 0
	r.Info = fmt.Sprintf("read %d bytes", n)
	return r
}

// readonly: the path's mount is read-only (statfs says ST_RDONLY), so
// nothing under it can be written whatever its mode says.
func readonly(p string) Result {
	r := Result{Check: "read-only " + p}
	var st unix.Statfs_t
	err := unix.Statfs(p, &st)
	if errors.Is(err, unix.ENOENT) {
		r.OK, r.Info = true, "absent on this kernel"
		return r
	}
	if err != nil {
		r.Info = fmt.Sprintf("statfs: %v", err)
		return r
	}
	r.OK = st.Flags&unix.ST_RDONLY != 0
	r.Info = fmt.Sprintf("mount flags %#x", st.Flags)
	return r
}

// pidNamespace: the probe is PID 1 of its own namespace and /proc shows no
// other process.
func pidNamespace(e Expect) Result {
	r := Result{Check: "pid namespace"}
	ents, err := os.ReadDir(e.ProcRoot)
	if err != nil {
		r.Info = err.Error()
		return r
	}
	var pids []string
	for _, d := range ents {
		if _, err := strconv.Atoi(d.Name()); err == nil {
			pids = append(pids, d.Name())
		}
	}
	self, _ := os.Readlink(filepath.Join(e.ProcRoot, "self"))
	r.OK = self == "1" && len(pids) == 1
	r.Info = fmt.Sprintf("self is pid %s, %d processes visible (%s)", self, len(pids), strings.Join(first(pids, 5), " "))
	return r
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// rootSealed: none of the guest root's files can be reached, neither at /
// nor through "/.." nor under any mount point the container sees (an old
// root left mounted after pivot_root would show there).
func rootSealed(e Expect) Result {
	r := Result{Check: "guest root unreachable"}
	var root, up unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		r.Info = err.Error()
		return r
	}
	if err := unix.Stat("/..", &up); err != nil {
		r.Info = err.Error()
		return r
	}
	if root.Dev != up.Dev || root.Ino != up.Ino {
		r.Info = "/.. is not / (the root is a chroot that can be climbed out of)"
		return r
	}
	mounts, err := mountPoints(filepath.Join(e.ProcRoot, "self/mountinfo"))
	if err != nil {
		r.Info = err.Error()
		return r
	}
	for _, mp := range mounts {
		for _, h := range e.HostOnly {
			p := filepath.Join(mp, h)
			if _, err := os.Lstat(p); err == nil {
				r.Info = fmt.Sprintf("%s is reachable (mount point %s)", p, mp)
				return r
			}
		}
	}
	r.OK = true
	r.Info = fmt.Sprintf("none of %s under / or %d mount points", strings.Join(e.HostOnly, ", "), len(mounts))
	return r
}

// mountPoints lists the mount points of a mountinfo file (field 5,
// octal escapes decoded).
func mountPoints(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 5 {
			continue
		}
		out = append(out, unescape(f[4]))
	}
	return out, nil
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
