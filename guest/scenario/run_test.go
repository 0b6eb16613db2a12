package scenario

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Lock the main goroutine to the main thread (init runs on it), so no test
// goroutine ever runs there. Tests that move their thread into a throwaway
// mount namespace therefore never touch the thread group leader, and
// /proc/self/mountinfo keeps showing the host's mount namespace.
func init() { runtime.LockOSThread() }

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipping: creating namespaces needs root (CAP_SYS_ADMIN); running as euid %d", os.Geteuid())
	}
}

func requireSupported(t testing.TB, s Scenario) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Skipf("skipping %s on this kernel: %v", s.Name, err)
	}
}

// enterThrowawayMountNS locks the calling goroutine to its thread for the
// rest of the goroutine's life and moves that thread alone into a new mount
// namespace, where Prepare may make "/" private without touching the host.
// The goroutine never unlocks, so when it exits the Go runtime terminates
// the thread and the namespace dies with it.
func enterThrowawayMountNS(t testing.TB) {
	t.Helper()
	runtime.LockOSThread()
	require.NoError(t, unix.Unshare(unix.CLONE_NEWNS))
	require.NoError(t, Prepare())
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestScenariosRun(t *testing.T) {
	requireRoot(t)
	const iterations = 20
	for _, s := range All() {
		t.Run(s.Name, func(t *testing.T) {
			requireSupported(t, s)
			if s.Name == "mqueue" {
				enterThrowawayMountNS(t)
			}
			var wall, op []int64
			for i := range iterations {
				smp, err := s.Run()
				require.NoError(t, err, "iteration %d", i)
				assert.Greater(t, smp.OpNS, int64(0), "iteration %d: op_ns", i)
				assert.LessOrEqual(t, smp.OpNS, smp.WallNS, "iteration %d: op_ns <= wall_ns", i)
				assert.Less(t, smp.WallNS, int64(5*time.Second), "iteration %d: wall_ns", i)
				assert.GreaterOrEqual(t, smp.UserNS, int64(0))
				assert.GreaterOrEqual(t, smp.SysNS, int64(0))
				wall, op = append(wall, smp.WallNS), append(op, smp.OpNS)
			}
			t.Logf("%s: median over %d: wall %.1f µs, op %.1f µs", s.Name, iterations,
				float64(median(wall))/1e3, float64(median(op))/1e3)
		})
	}
}

// nsNames maps /proc/<pid>/ns entries to the clone flag that makes them new.
var nsNames = []struct {
	name string
	flag uintptr
}{
	{"net", unix.CLONE_NEWNET}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS},
	{"pid", unix.CLONE_NEWPID}, {"mnt", unix.CLONE_NEWNS}, {"user", unix.CLONE_NEWUSER},
	{"cgroup", unix.CLONE_NEWCGROUP},
}

func statusField(t *testing.T, path, field string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s: no %s", path, field)
	return ""
}

// TestChildNamespacesAndSignals starts, for every scenario's flags, a child
// in the test-only wait mode: it blocks in a raw read on a pipe, so the test
// can look at it through /proc while it lives. It proves the namespaces are
// real (the child's /proc/<pid>/ns links differ from ours exactly for the
// flags given), that the child runs with every signal blocked, and that
// signals sent to it stay pending and run no handler on the shared stack.
func TestChildNamespacesAndSignals(t *testing.T) {
	requireRoot(t)
	for _, sp := range specs {
		t.Run(sp.Name, func(t *testing.T) {
			requireSupported(t, sp.Scenario)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()

			page, err := unix.Mmap(-1, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			require.NoError(t, err)
			defer unix.Munmap(page)
			var p [2]int
			require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
			defer unix.Close(p[0])
			wfd := p[1]
			defer func() {
				if wfd >= 0 {
					unix.Close(wfd)
				}
			}()
			maskBefore := statusField(t, "/proc/thread-self/status", "SigBlk")

			pid, _, _, err := clone(sp.flags, modeWait, uintptr(unsafe.Pointer(&page[0])), p[0], p[1])
			require.NoError(t, err)
			reaped := false
			defer func() {
				if !reaped { // closing the write end makes the child's read return 0
					unix.Close(wfd)
					wfd = -1
					reap(pid)
				}
			}()
			assert.Equal(t, maskBefore, statusField(t, "/proc/thread-self/status", "SigBlk"),
				"the parent thread's signal mask is restored")

			for _, ns := range nsNames {
				mine, err := os.Readlink("/proc/thread-self/ns/" + ns.name)
				if os.IsNotExist(err) {
					continue
				}
				require.NoError(t, err)
				child, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns.name))
				require.NoError(t, err)
				if sp.flags&ns.flag != 0 {
					assert.NotEqual(t, mine, child, "%s: child should be in a new %s namespace", sp.Name, ns.name)
				} else {
					assert.Equal(t, mine, child, "%s: child should share our %s namespace", sp.Name, ns.name)
				}
			}

			status := fmt.Sprintf("/proc/%d/status", pid)
			// Every signal but SIGKILL (9) and SIGSTOP (19), which the
			// kernel never lets a task block.
			// require: with signals unblocked, a handler would run on the shared stack.
			require.Equal(t, fmt.Sprintf("%016x", ^uint64(0)&^(1<<8|1<<18)), statusField(t, status, "SigBlk"))
			for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGUSR1, unix.SIGSEGV, unix.SIGURG, unix.SIGPROF} {
				require.NoError(t, unix.Kill(pid, sig))
			}
			assert.NotEqual(t, "0000000000000000", statusField(t, status, "ShdPnd"), "signals stay pending")

			_, err = unix.Write(wfd, []byte{1})
			require.NoError(t, err)
			ws, _, err := reap(pid)
			reaped = true
			require.NoError(t, err)
			require.NoError(t, childError(sp.Name, ws), "the child read its byte and exited 0, with 5 signals pending")
			assert.Equal(t, byte(1), page[offByte])
		})
	}
}

// mqueueMounts lists the mqueue mounts at target in a mountinfo file.
func mqueueMounts(t *testing.T, mountinfo, target string) []string {
	t.Helper()
	b, err := os.ReadFile(mountinfo)
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == target {
			out = append(out, line)
		}
	}
	return out
}

func TestMqueueMountStaysInChild(t *testing.T) {
	requireRoot(t)
	s, err := Lookup("mqueue")
	require.NoError(t, err)
	requireSupported(t, s)

	hostNS, err := os.Readlink("/proc/self/ns/mnt")
	require.NoError(t, err)
	enterThrowawayMountNS(t)
	mine, err := os.Readlink("/proc/thread-self/ns/mnt")
	require.NoError(t, err)
	require.NotEqual(t, hostNS, mine, "this thread is in a throwaway mount namespace")
	prep.Lock()
	target := prep.target
	prep.Unlock()
	require.Empty(t, mqueueMounts(t, "/proc/self/mountinfo", target))

	for range 5 {
		_, err := s.Run() // Run fails unless the child's mount returned 0
		require.NoError(t, err)
	}
	assert.Empty(t, mqueueMounts(t, "/proc/self/mountinfo", target), "nothing leaked into the host's namespace")
	assert.Empty(t, mqueueMounts(t, "/proc/thread-self/mountinfo", target), "nor into the parent's namespace")
	for _, line := range strings.Split(mustRead(t, "/proc/thread-self/mountinfo"), "\n") {
		assert.NotContains(t, line, "shared:", "Prepare made every mount private")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestMqueueRefusesUnpreparedNamespace(t *testing.T) {
	requireRoot(t)
	s, _ := Lookup("mqueue")
	requireSupported(t, s)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := mountNS()
	require.NoError(t, err)
	prep.Lock()
	prepared := prep.private[ns]
	prep.Unlock()
	if prepared {
		t.Skip("this thread's mount namespace was prepared")
	}
	_, err = s.Run()
	assert.ErrorContains(t, err, "Prepare has not made this mount namespace private")
}

// TestRunConcurrent runs scenarios from several goroutines at once, with
// garbage collection going on, as a check that parent and child never step
// on each other's memory or stack.
func TestRunConcurrent(t *testing.T) {
	requireRoot(t)
	names := []string{"utsns", "ipcns", "mntns", "pidns", "userns"}
	errs := make(chan error, len(names))
	stop := make(chan struct{})
	go func() { // garbage and stack growth in the parent meanwhile
		for {
			select {
			case <-stop:
				return
			default:
				_ = deep(64, make([]byte, 1<<10))
				runtime.GC()
			}
		}
	}()
	for _, name := range names {
		go func() {
			s, _ := Lookup(name)
			if s.Check() != nil {
				errs <- nil
				return
			}
			for range 30 {
				if _, err := s.Run(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range names {
		assert.NoError(t, <-errs)
	}
	close(stop)
}

func deep(n int, b []byte) int {
	var pad [256]byte
	pad[n%256] = b[0]
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1, b) + int(pad[n%256])
}

func TestFailuresNameTheErrno(t *testing.T) {
	requireRoot(t)
	t.Run("mount fails in the child", func(t *testing.T) {
		s, _ := Lookup("mqueue")
		requireSupported(t, s)
		enterThrowawayMountNS(t)
		prep.Lock()
		saved := prep.target
		prep.target = saved + "-does-not-exist"
		prep.Unlock()
		t.Cleanup(func() { prep.Lock(); prep.target = saved; prep.Unlock() })
		_, err := s.Run()
		require.ErrorIs(t, err, unix.ENOENT)
		assert.ErrorContains(t, err, "ENOENT")
		assert.NotErrorIs(t, err, ErrNotSupported)
	})
	t.Run("child exits nonzero", func(t *testing.T) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		page, err := unix.Mmap(-1, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		require.NoError(t, err)
		defer unix.Munmap(page)
		var p [2]int
		require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
		defer unix.Close(p[0])
		pid, _, _, err := clone(unix.CLONE_NEWUTS, modeWait, uintptr(unsafe.Pointer(&page[0])), p[0], p[1])
		require.NoError(t, err)
		unix.Close(p[1]) // EOF: the child's read returns 0, it exits 1
		ws, _, err := reap(pid)
		require.NoError(t, err)
		assert.EqualError(t, childError("utsns", ws), "scenario utsns: child exited with status 1")
	})
}
