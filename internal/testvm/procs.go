package testvm

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Leftover processes: a test that interrupts a run must show that no QEMU
// outlives it. A process can be lost sight of in two ways: its parent
// dies and it is reparented, so a walk of the test's descendants misses
// it; and QEMU's command line names neither the run directory nor the
// initramfs (it gets them as /proc/self/fd/N and a socket in a temporary
// directory), so a search of command lines misses it too. What every
// process the test starts does keep is the environment it was started
// with: Tag puts a variable no other process has into it, every
// descendant inherits it (QEMU included: the harness does not replace its
// environment), and Tagged finds them through /proc/<pid>/environ
// wherever they were reparented. Zombies are dead, and their environment
// is gone with their memory: they are never listed.

// TagVar is the environment variable Tag sets.
const TagVar = "COLDSTART_TEST_TAG"

// Tag returns an environment entry, TagVar=<unique value>, for the
// processes a test starts.
func Tag(t testing.TB) string {
	return fmt.Sprintf("%s=%s-%d-%d", TagVar, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()), os.Getpid(), time.Now().UnixNano())
}

// Proc is a live process Tagged found.
type Proc struct {
	PID     int
	Comm    string // the command name (/proc/<pid>/comm)
	Cmdline string
}

func (p Proc) String() string { return fmt.Sprintf("pid %d (%s): %s", p.PID, p.Comm, p.Cmdline) }

// Tagged lists the live processes whose environment holds tag (from Tag),
// other than the caller, in /proc at proc ("" = /proc).
func Tagged(proc, tag string) []Proc {
	if proc == "" {
		proc = "/proc"
	}
	ents, _ := os.ReadDir(proc)
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join(proc, e.Name())
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil || !hasEntry(env, tag) || zombie(dir) {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		cmd, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		out = append(out, Proc{PID: pid, Comm: strings.TrimSpace(string(comm)),
			Cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))})
	}
	return out
}

// Left waits up to timeout for the tagged processes to be gone (a killed
// QEMU takes a moment to be reaped) and returns those still there.
func Left(tag string, timeout time.Duration) []Proc {
	deadline := time.Now().Add(timeout)
	for {
		left := Tagged("", tag)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// QEMUs keeps the QEMU processes of ps.
func QEMUs(ps []Proc) []Proc {
	var out []Proc
	for _, p := range ps {
		if strings.HasPrefix(p.Comm, "qemu-system") {
			out = append(out, p)
		}
	}
	return out
}

func hasEntry(environ []byte, entry string) bool {
	for _, e := range bytes.Split(environ, []byte{0}) {
		if string(e) == entry {
			return true
		}
	}
	return false
}

// zombie reports whether the process at dir has exited and awaits its
// reaping (state Z) or is dying (X).
func zombie(dir string) bool {
	st, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return true
	}
	rest := string(st)
	if i := strings.LastIndex(rest, ") "); i >= 0 {
		rest = rest[i+2:]
	}
	return strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")
}
