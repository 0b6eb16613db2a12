package qemu

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// The guest's clocks.
const (
	// ClockWall: the guest's clock runs with the host's, so host load
	// moves every timing (by 11-39% between boots of one kernel here).
	ClockWall = "wall"
	// ClockVirtual: the guest's clock counts the instructions it executes
	// (QEMU's icount, 1 ns each) and jumps over the time it idles, so a
	// timing is the guest's work at a fixed instruction rate plus the
	// virtual time it waited on timers (RCU grace periods, msleep, work
	// queues). Host load cannot move it. It cannot see what the host's
	// CPU does to that work: cache misses, contention between real CPUs.
	ClockVirtual = "virtual"
)

// VirtualClock is how ClockVirtual is made, recorded with every result
// measured on it.
var VirtualClock = struct {
	// Args are QEMU's: instruction counting with idle skipped and the
	// guest never slowed to the host's pace; no RDRAND or RDSEED, whose
	// host randomness made the kernel and the agent take other paths in
	// each boot; a real-time clock that starts at a fixed date and runs
	// on virtual time.
	Args []string
	// Cmdline are the kernel's words: no address-space randomisation.
	Cmdline []string
	// CPUs is the one vCPU count it works with: with two, QEMU 7.2's
	// round-robin of vCPUs under icount stalls in SMP bring-up (the
	// second CPU spins in wait_for_master_cpu while the first's virtual
	// clock barely moves; seen with every shift from 0 to 7).
	CPUs int
	// MinKernel is the oldest kernel series it gives real answers on: on
	// one CPU, kernels before 5.17 skip RCU grace periods (a synchronize_rcu
	// returns at once), hiding the regressions coldstart looks for.
	MinKernel string
}{
	Args: []string{"-accel", "tcg,thread=single", "-cpu", "max,-rdrand,-rdseed",
		"-icount", "shift=0,sleep=off,align=off", "-rtc", "base=2026-01-01T00:00:00,clock=vm"},
	Cmdline:   []string{"nokaslr"},
	CPUs:      1,
	MinKernel: "5.17",
}

// ClockParams describes a clock's parameters for result files: "" for
// the wall clock.
func ClockParams(clock string) string {
	if clock != ClockVirtual {
		return ""
	}
	return strings.Join(VirtualClock.Args, " ") + "; kernel: " + strings.Join(VirtualClock.Cmdline, " ") +
		fmt.Sprintf("; %d vCPU", VirtualClock.CPUs)
}

func (o Options) clockCmdline() []string {
	if o.Clock == ClockVirtual {
		return VirtualClock.Cmdline
	}
	return nil
}

// CheckClock says what is wrong with running clock with accel and cpus.
func CheckClock(clock, accel string, cpus int) error {
	switch clock {
	case "", ClockWall:
		return nil
	case ClockVirtual:
	default:
		return fmt.Errorf("clock %q: want %s or %s", clock, ClockWall, ClockVirtual)
	}
	if accel == AccelKVM {
		return fmt.Errorf("the virtual clock counts instructions under TCG: it does not go with KVM (use --accel tcg, or --clock wall)")
	}
	if cpus != VirtualClock.CPUs {
		return fmt.Errorf("the virtual clock works with %d vCPU (got %d): with more, QEMU 7.2's icount stalls in SMP bring-up", VirtualClock.CPUs, cpus)
	}
	return nil
}

// eventsChardev is the event port's backend: a socket QEMU connects to,
// or on the virtual clock a file. A socket's writes complete when the
// host lets them, which moved the guest's interrupts, and with them its
// randomness and every later timing, differently in each boot (clone-all
// and csrun's runs spread 4-10% between boots); a file's complete at once,
// and three boots gave every timing to the nanosecond.
func eventsChardev(o Options, path string) string {
	if o.Clock == ClockVirtual {
		return "file,id=events,path=" + path
	}
	return "socket,id=events,path=" + path
}

// fileListener serves the one "connection" of a file QEMU writes: its
// Accept returns a reader that follows the file as it grows, until Close.
type fileListener struct {
	path   string
	closed chan struct{}
	once   sync.Once
	taken  bool
}

func newFileListener(path string) (*fileListener, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return nil, err
	}
	f.Close()
	return &fileListener{path: path, closed: make(chan struct{})}, nil
}

func (l *fileListener) Accept() (net.Conn, error) {
	if l.taken {
		<-l.closed
		return nil, net.ErrClosed
	}
	l.taken = true
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	return &followConn{f: f, closed: make(chan struct{})}, nil
}

func (l *fileListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *fileListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "file"} }

// followConn reads a file as QEMU appends to it: at its end it waits for
// more, until Close, after which it drains what is left and ends.
type followConn struct {
	f      *os.File
	closed chan struct{}
	once   sync.Once
}

func (c *followConn) Read(p []byte) (int, error) {
	for {
		n, err := c.f.Read(p)
		if n > 0 || (err != nil && err != io.EOF) {
			return n, err
		}
		select {
		case <-c.closed:
			if n, _ := c.f.Read(p); n > 0 {
				return n, nil
			}
			return 0, io.EOF
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (c *followConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *followConn) Write([]byte) (int, error)        { return 0, errors.New("the event file is read-only") }
func (c *followConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: c.f.Name(), Net: "file"} }
func (c *followConn) RemoteAddr() net.Addr             { return c.LocalAddr() }
func (c *followConn) SetDeadline(time.Time) error      { return nil }
func (c *followConn) SetReadDeadline(time.Time) error  { return nil }
func (c *followConn) SetWriteDeadline(time.Time) error { return nil }
