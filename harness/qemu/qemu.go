// Package qemu boots a kernel and initramfs in QEMU and hands the guest
// agent's events to the caller.
//
// The guest gets no network and two serial ports: ttyS0 is the console,
// read from QEMU's stdout, kept in a log file and in memory (its tail goes
// in every error), and watched for kernel panics; ttyS1 carries the agent's
// framed events (package event) over a Unix socket the harness listens on
// before QEMU starts, so nothing the guest sends is lost. QMP, through
// github.com/digitalocean/go-qemu, reports the VM's status and SHUTDOWN and
// GUEST_PANICKED events, and ends the VM with "quit" before a kill.
//
// Acceleration: KVM when a short probe boot shows it works (ProbeKVM),
// otherwise TCG. /dev/kvm existing is not enough: on some hosts it answers
// ioctls but guests hang.
//
// Environment: COLDSTART_QEMU names the QEMU binary (default
// qemu-system-x86_64 from PATH).
package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	goqemu "github.com/digitalocean/go-qemu/qemu"
	"github.com/digitalocean/go-qemu/qmp"

	"coldstart/event"
	"coldstart/internal/syncio"
)

// Sentinel errors callers branch on.
var (
	ErrTimeout     = errors.New("deadline passed")
	ErrGuestPanic  = errors.New("guest kernel panicked")
	ErrNoDone      = errors.New("guest stopped without a done event")
	ErrQEMU        = errors.New("qemu failed")
	ErrQEMUMissing = errors.New("qemu not found")
)

// Accelerators.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// Options describe one VM.
type Options struct {
	Binary   string // default: $COLDSTART_QEMU or qemu-system-x86_64
	Kernel   string // vmlinux (PVH) or bzImage
	Initrd   string
	Append   []string // kernel command line, after the harness's own words
	Accel    string   // AccelKVM or AccelTCG (default)
	CPUs     int      // default 2: older kernels skip RCU grace periods on one CPU
	MemoryMB int      // default 1024
	// TCGThread is "single" to run all vCPUs on one host thread under
	// TCG (slower, but free of multi-threaded TCG's races with a guest
	// that patches its own code: ftrace and runc's start-up panicked
	// guests with int3 Oopses under "multi"); default "single".
	TCGThread string
	// Clock is ClockWall (default: the guest's clock runs with the host's)
	// or ClockVirtual (see VirtualClock).
	Clock string
	// ConsoleLog receives everything the guest prints on ttyS0.
	ConsoleLog string
	// Extra arguments, appended last.
	Extra []string
}

func (o *Options) defaults() {
	if o.Binary == "" {
		o.Binary = os.Getenv("COLDSTART_QEMU")
	}
	if o.Binary == "" {
		o.Binary = "qemu-system-x86_64"
	}
	if o.Accel == "" {
		o.Accel = AccelTCG
	}
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 1024
	}
	if o.TCGThread == "" && o.Accel == AccelTCG {
		o.TCGThread = "single"
	}
}

// BaseCmdline is the harness's part of the kernel command line. panic=-1
// reboots at once on a panic, which -no-reboot turns into QEMU exiting.
var BaseCmdline = []string{"console=ttyS0", "panic=-1", "loglevel=4", "8250.nr_uarts=2"}

// Args returns QEMU's arguments for o, with the event socket at evSock and
// the QMP socket at qmpSock.
func Args(o Options, evSock, qmpSock string) []string {
	o.defaults()
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-no-reboot",
		"-m", fmt.Sprint(o.MemoryMB),
		"-smp", fmt.Sprint(o.CPUs),
	}
	if o.Clock == ClockVirtual {
		args = append(args, VirtualClock.Args...)
	} else if o.Accel == AccelKVM {
		args = append(args, "-accel", "kvm", "-cpu", "host")
	} else {
		accel := "tcg"
		if o.TCGThread == "single" {
			accel = "tcg,thread=single"
		}
		args = append(args, "-accel", accel, "-cpu", "max")
	}
	args = append(args,
		// ttyS0 first: the console.
		"-serial", "stdio",
		// ttyS1: the agent's events, QEMU connecting to our listener;
		// on the virtual clock a file we follow (eventsChardev).
		"-chardev", eventsChardev(o, evSock),
		"-serial", "chardev:events",
		"-qmp", "unix:"+qmpSock+",server=on,wait=off",
		// pvpanic: a kernel with its driver built in (coldstart's own
		// builds) reports a panic as QMP's GUEST_PANICKED.
		"-device", "pvpanic",
		"-kernel", o.Kernel,
		"-initrd", o.Initrd,
		"-append", strings.Join(append(append(append([]string(nil), BaseCmdline...), o.clockCmdline()...), o.Append...), " "),
	)
	return append(args, o.Extra...)
}

// VM is a running QEMU.
type VM struct {
	opts    Options
	cmd     *exec.Cmd
	cmdline string
	tmpDir  string

	events chan *event.Event
	dec    *event.Decoder // owned by the events goroutine until events closes

	console *ring
	logFile *os.File

	mu       sync.Mutex
	panicked bool
	qmpSeen  []string // QMP events seen, in order

	exited  chan struct{}
	waitErr error

	domain *goqemu.Domain
	mon    *qmp.SocketMonitor

	stopOnce sync.Once
	user     string
}

// Unprivileged is the user QEMU runs as when the harness is root and KVM
// is not used: a TCG guest needs no privilege on the host, so a QEMU bug
// cannot be a root exploit.
const Unprivileged = 65534 // nobody

func unprivileged(accel string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 || accel == AccelKVM {
		// KVM needs /dev/kvm, usually group kvm; keep the caller's user.
		return nil, nil
	}
	return &syscall.Credential{Uid: Unprivileged, Gid: Unprivileged, Groups: []uint32{}}, nil
}

// Pid is QEMU's process id.
func (vm *VM) Pid() int { return vm.cmd.Process.Pid }

// User says which user QEMU runs as.
func (vm *VM) User() string { return vm.user }

// Start launches QEMU. The caller must call Stop (or Wait) to release it.
func Start(ctx context.Context, o Options) (*VM, error) {
	o.defaults()
	bin, err := exec.LookPath(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not installed (run `make setup`, or apt-get install qemu-system-x86): %v", ErrQEMUMissing, o.Binary, err)
	}
	for _, f := range []string{o.Kernel, o.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("boot input: %w", err)
		}
	}
	// Socket paths must be short (108 bytes), so not under the cache dir.
	tmpDir, err := os.MkdirTemp("", "coldstart-vm-")
	if err != nil {
		return nil, fmt.Errorf("qemu sockets: %w", err)
	}
	vm := &VM{opts: o, tmpDir: tmpDir, console: newRing(256), exited: make(chan struct{}), events: make(chan *event.Event, 64)}
	evSock := filepath.Join(tmpDir, "events.sock")
	qmpSock := filepath.Join(tmpDir, "qmp.sock")
	var ln net.Listener
	if o.Clock == ClockVirtual {
		evSock = filepath.Join(tmpDir, "events.log")
		ln, err = newFileListener(evSock)
	} else {
		ln, err = net.Listen("unix", evSock)
	}
	if err != nil {
		os.RemoveAll(tmpDir)
		return nil, fmt.Errorf("event socket: %w", err)
	}
	if o.ConsoleLog != "" {
		if vm.logFile, err = os.Create(o.ConsoleLog); err != nil {
			ln.Close()
			os.RemoveAll(tmpDir)
			return nil, fmt.Errorf("console log: %w", err)
		}
	}
	// Without root, QEMU reaches the kernel and initramfs through file
	// descriptors we open for it, so their directories need not be
	// readable by its user.
	var extra []*os.File
	for _, p := range []*string{&o.Kernel, &o.Initrd} {
		f, err := os.Open(*p)
		if err != nil {
			vm.cleanup()
			ln.Close()
			return nil, fmt.Errorf("boot input: %w", err)
		}
		defer f.Close()
		extra = append(extra, f)
		*p = fmt.Sprintf("/proc/self/fd/%d", 2+len(extra))
	}
	cred, err := unprivileged(o.Accel)
	if err != nil {
		vm.cleanup()
		ln.Close()
		return nil, err
	}
	if cred != nil {
		// The sockets' directory and our listening socket must be
		// reachable by QEMU's user.
		os.Chown(tmpDir, int(cred.Uid), int(cred.Gid))
		os.Chmod(evSock, 0o666)
	}
	args := Args(o, evSock, qmpSock)
	vm.cmd = exec.Command(bin, args...)
	vm.cmd.ExtraFiles = extra
	vm.cmdline = shellQuote(append([]string{bin}, args...))
	stdout, err := vm.cmd.StdoutPipe()
	if err != nil {
		vm.cleanup()
		return nil, err
	}
	var stderr strings.Builder
	vm.cmd.Stderr = syncio.NewWriter(&stderr)
	// Own process group, so a Ctrl-C in the terminal reaches the harness,
	// which stops QEMU in order, and Pdeathsig so that QEMU never outlives
	// a harness that was killed outright.
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	vm.user = "root"
	if cred != nil {
		vm.user = fmt.Sprintf("uid %d", cred.Uid)
	} else if os.Geteuid() != 0 {
		vm.user = fmt.Sprintf("uid %d", os.Geteuid())
	}
	if err := vm.cmd.Start(); err != nil {
		ln.Close()
		vm.cleanup()
		return nil, fmt.Errorf("%w: start %s: %v", ErrQEMU, bin, err)
	}

	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		vm.readConsole(stdout)
	}()
	go func() {
		<-consoleDone
		err := vm.cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w: %v: %s", ErrQEMU, err, strings.TrimSpace(stderr.String()))
		} else if s := strings.TrimSpace(stderr.String()); s != "" {
			vm.console.add("[qemu stderr] " + s)
		}
		vm.waitErr = err
		close(vm.exited)
	}()

	// Accept QEMU's connection to the event socket.
	go func() {
		defer close(vm.events)
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
			close(accepted)
		}()
		var conn net.Conn
		select {
		case conn = <-accepted:
		case <-vm.exited:
		}
		ln.Close()
		if conn == nil {
			return
		}
		defer conn.Close()
		go func() { <-vm.exited; conn.Close() }()
		vm.dec = event.NewDecoder(conn)
		for {
			e, err := vm.dec.Next()
			if err != nil {
				return
			}
			vm.events <- e
		}
	}()

	if err := vm.connectQMP(ctx, qmpSock); err != nil {
		vm.Stop()
		if vm.waitErr != nil {
			// QEMU died on its own: its stderr says why.
			return nil, vm.Errorf(ErrQEMU, "%s", strings.TrimPrefix(vm.waitErr.Error(), ErrQEMU.Error()+": "))
		}
		return nil, vm.Errorf(ErrQEMU, "QMP: %v", err)
	}
	return vm, nil
}

func (vm *VM) connectQMP(ctx context.Context, sock string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		mon, err := qmp.NewSocketMonitor("unix", sock, 2*time.Second)
		if err == nil {
			if err = mon.Connect(); err == nil {
				vm.mon = mon
				break
			}
		}
		select {
		case <-vm.exited:
			return fmt.Errorf("qemu exited before its monitor answered")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("monitor socket %s did not answer in 30s: %v", sock, err)
		}
	}
	d, err := goqemu.NewDomain(vm.mon, filepath.Base(vm.tmpDir))
	if err != nil {
		return err
	}
	vm.domain = d
	// Once events are requested they must be drained, or the monitor
	// deadlocks.
	evs, _, err := d.Events()
	if err != nil {
		return err
	}
	go func() {
		for e := range evs {
			vm.mu.Lock()
			vm.qmpSeen = append(vm.qmpSeen, e.Event)
			if e.Event == "GUEST_PANICKED" {
				vm.panicked = true
				// QEMU 6+ shuts the VM down on a pvpanic by itself; older
				// ones pause it, which would wait for a deadline.
				go vm.mon.Run([]byte(`{"execute":"quit"}`))
			}
			vm.mu.Unlock()
		}
	}()
	st, err := d.Status()
	if err != nil {
		return fmt.Errorf("query-status: %w", err)
	}
	if st != goqemu.StatusRunning {
		return fmt.Errorf("VM status is %v, not running", st)
	}
	return nil
}

// Events delivers the agent's events; it is closed when the stream ends.
func (vm *VM) Events() <-chan *event.Event { return vm.events }

// Exited is closed when QEMU has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// Damage reports how many event lines were rejected and how many events
// went missing. Valid once Events is closed.
func (vm *VM) Damage() (damaged, missing int, last error) {
	if vm.dec == nil {
		return 0, 0, nil
	}
	return vm.dec.Damaged, vm.dec.Missing, vm.dec.LastErr
}

// Panicked reports whether the guest kernel panicked, from the console or QMP.
func (vm *VM) Panicked() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.panicked
}

// QMPEvents lists the QMP events seen so far.
func (vm *VM) QMPEvents() []string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return append([]string(nil), vm.qmpSeen...)
}

// CommandLine is the exact QEMU command, quoted for a shell.
func (vm *VM) CommandLine() string { return vm.cmdline }

// ConsoleTail returns the last n console lines.
func (vm *VM) ConsoleTail(n int) []string { return vm.console.tail(n) }

// Wait waits for QEMU to exit on its own and returns its error.
func (vm *VM) Wait() error {
	<-vm.exited
	vm.cleanup()
	return vm.waitErr
}

// Stop ends the VM: QMP quit, then SIGKILL if it has not exited in 3 s.
// It is safe to call more than once and after QEMU exited.
func (vm *VM) Stop() {
	vm.stopOnce.Do(func() {
		select {
		case <-vm.exited:
		default:
			if vm.mon != nil {
				// The reply may never come: QEMU closes the socket as it quits.
				go vm.mon.Run([]byte(`{"execute":"quit"}`))
			}
			select {
			case <-vm.exited:
			case <-time.After(3 * time.Second):
				if vm.cmd.Process != nil {
					syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL)
					vm.cmd.Process.Kill()
				}
				<-vm.exited
			}
		}
		vm.cleanup()
	})
}

func (vm *VM) cleanup() {
	if vm.domain != nil {
		vm.domain.Close()
	}
	if vm.logFile != nil {
		vm.logFile.Sync()
	}
	os.RemoveAll(vm.tmpDir)
}

// BootError is a failed boot, with what it takes to reproduce and diagnose
// it.
type BootError struct {
	Kind        error // one of the sentinels
	Detail      string
	CommandLine string
	ConsoleTail []string
}

func (e *BootError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %s", e.Kind, e.Detail)
	if len(e.ConsoleTail) > 0 {
		b.WriteString("\n--- last console lines ---\n")
		b.WriteString(strings.Join(e.ConsoleTail, "\n"))
	}
	if e.CommandLine != "" {
		b.WriteString("\n--- to reproduce ---\n")
		b.WriteString(e.CommandLine)
	}
	return b.String()
}

func (e *BootError) Unwrap() error { return e.Kind }

// Errorf makes a BootError of the given kind with the VM's console tail and
// command line.
func (vm *VM) Errorf(kind error, format string, args ...any) *BootError {
	return &BootError{Kind: kind, Detail: fmt.Sprintf(format, args...), CommandLine: vm.cmdline, ConsoleTail: vm.ConsoleTail(30)}
}

var panicMarkers = []string{"Kernel panic - not syncing", "---[ end Kernel panic"}

func (vm *VM) readConsole(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			if vm.logFile != nil {
				vm.logFile.WriteString(line)
			}
			l := strings.TrimRight(line, "\r\n")
			vm.console.add(l)
			for _, m := range panicMarkers {
				if strings.Contains(l, m) {
					vm.mu.Lock()
					vm.panicked = true
					vm.mu.Unlock()
				}
			}
		}
		if err != nil {
			return
		}
	}
}

type ring struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func newRing(n int) *ring { return &ring{lines: make([]string, n)} }

func (r *ring) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = s
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
}

func (r *ring) tail(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	if r.full {
		all = append(all, r.lines[r.next:]...)
	}
	all = append(all, r.lines[:r.next]...)
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		safe := a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@", r))
		}) < 0
		if safe {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// ProbeKVM reports whether KVM works here, by a short boot of o with KVM:
// it works when the guest's first event arrives within timeout. The reason
// says why not otherwise. o should boot an agent with nothing to run.
func ProbeKVM(ctx context.Context, o Options, timeout time.Duration) (ok bool, reason string) {
	f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Sprintf("no usable /dev/kvm (%v)", err)
	}
	f.Close()
	o.Accel = AccelKVM
	o.ConsoleLog = ""
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	vm, err := Start(ctx, o)
	if err != nil {
		return false, fmt.Sprintf("KVM probe boot did not start: %v", err)
	}
	defer vm.Stop()
	select {
	case e, open := <-vm.Events():
		if open && e.Type == event.TypeHello {
			return true, "a KVM probe boot reached the agent"
		}
		return false, "KVM probe boot ended before the agent spoke"
	case <-ctx.Done():
		return false, fmt.Sprintf("KVM probe boot did not reach the agent in %v (this host's KVM hangs guests)", timeout)
	}
}
