package matrix

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/kernels"
	"coldstart/harness/qemu"
	"coldstart/harness/results"
	"coldstart/internal/testvm"
	"coldstart/plan"
)

// TestBootFaults provokes real faults in real boots and checks that each
// ends in a clear, recorded outcome with the console tail and the QEMU
// command line.
func TestBootFaults(t *testing.T) {
	env := testvm.Require(t)
	tag := tagQEMUs(t)
	bootPlan := plan.Plan{Scenarios: []string{"utsns"}, Iterations: 3, Warmups: 0}
	short := Deadlines{Hello: 120 * time.Second, Scenario: 120 * time.Second, Shutdown: 20 * time.Second}
	tests := []struct {
		name      string
		append    []string
		extra     []string
		binary    string
		dl        Deadlines
		wantErr   error
		wantInErr []string
		check     func(t *testing.T, out *bootOutcome)
	}{
		{
			name: "kernel panic: no init in the initramfs",
			// A real panic: the kernel finds no init and panics; panic=-1
			// and -no-reboot end QEMU.
			append:    []string{"rdinit=/no/such/init", "root=/dev/nonexistent"},
			wantErr:   qemu.ErrGuestPanic,
			wantInErr: []string{"Kernel panic", "to reproduce", "qemu-system-x86_64"},
		},
		{
			name:      "guest hangs in a scenario",
			append:    append(bootPlan.Cmdline(), "coldstart.fault=hang"),
			dl:        Deadlines{Hello: 120 * time.Second, Scenario: 3 * time.Second, Shutdown: 5 * time.Second},
			wantErr:   qemu.ErrTimeout,
			wantInErr: []string{"waited too long for the first scenario", "fault=hang"},
		},
		{
			name:      "guest too slow to boot",
			append:    bootPlan.Cmdline(),
			dl:        Deadlines{Hello: 300 * time.Millisecond, Scenario: time.Minute, Shutdown: 5 * time.Second},
			wantErr:   qemu.ErrTimeout,
			wantInErr: []string{"hello"},
		},
		{
			name:      "agent crashes: no done event",
			append:    append(bootPlan.Cmdline(), "coldstart.fault=crash"),
			wantErr:   qemu.ErrNoDone,
			wantInErr: []string{"fault=crash"},
		},
		{
			name:   "garbage on the event channel is rejected and counted",
			append: append(bootPlan.Cmdline(), "coldstart.fault=garbage"),
			check: func(t *testing.T, out *bootOutcome) {
				assert.GreaterOrEqual(t, out.rec.Damaged, 1)
				assert.Len(t, out.samples["utsns"], 3)
			},
		},
		{
			name:      "qemu missing",
			binary:    "/nonexistent/qemu-system-x86_64",
			wantErr:   qemu.ErrQEMUMissing,
			wantInErr: []string{"make setup"},
		},
		{
			name:      "qemu fails to start",
			extra:     []string{"-no-such-option"},
			wantErr:   qemu.ErrQEMU,
			wantInErr: []string{"invalid option", "-no-such-option"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := tt.dl
			if dl == (Deadlines{}) {
				dl = short
			}
			o := qemu.Options{Binary: tt.binary, Kernel: env.Image.Boot(), Initrd: env.Initrd, Append: tt.append, Extra: tt.extra,
				ConsoleLog: filepath.Join(t.TempDir(), "console.log")}
			start := time.Now()
			out := boot(context.Background(), o, 0, dl, func(s string) { t.Log(s) })
			t.Logf("outcome after %v: %v", time.Since(start), out.err)
			if tt.wantErr == nil {
				require.NoError(t, out.err)
				assert.Equal(t, results.StatusOK, out.rec.Status)
			} else {
				require.Error(t, out.err)
				assert.True(t, errors.Is(out.err, tt.wantErr), "want %v, got %v", tt.wantErr, out.err)
				assert.Equal(t, results.StatusFailed, out.rec.Status)
				for _, s := range tt.wantInErr {
					assert.Contains(t, out.rec.Error, s)
				}
			}
			if tt.check != nil {
				tt.check(t, out)
			}
			assert.Empty(t, qemuLeft(tag), "QEMU outlived the boot")
		})
	}
}

// TestPanicReportedByQMP: a kernel with a pvpanic driver built in (the
// project's own builds: kernels/configs/coldstart.config) reports its panic
// to QEMU (-device pvpanic), which sends GUEST_PANICKED on QMP, a second
// signal beside the console's marker. Debian's kernels have the driver only
// as a module, so this needs a built kernel: COLDSTART_PVPANIC_KERNEL, or
// tiny-6.1 from the cache (make test-long fetches it; building it takes
// 12-15 min on 2 cores, too long for every CI run).
func TestPanicReportedByQMP(t *testing.T) {
	env := testvm.Require(t)
	kernel := os.Getenv("COLDSTART_PVPANIC_KERNEL")
	if kernel == "" {
		cache, err := kernels.DefaultCacheDir()
		require.NoError(t, err)
		dirs, _ := filepath.Glob(filepath.Join(cache, "kernels", "tiny-6.1-*"))
		for _, d := range dirs {
			configs, _ := filepath.Glob(filepath.Join(d, "config*"))
			for _, c := range configs {
				b, err := os.ReadFile(c)
				if err != nil || !strings.Contains(string(b), "\nCONFIG_PVPANIC_MMIO=y\n") || !strings.Contains(string(b), "\nCONFIG_PCI=y\n") {
					continue
				}
				if im, _ := filepath.Glob(filepath.Join(d, "vmlinu[xz]*")); len(im) > 0 {
					kernel = im[0] // vmlinux (PVH) sorts first
				}
			}
		}
	}
	if kernel == "" {
		t.Skip("no kernel with a built-in pvpanic driver in the cache (Debian's have it as a module): run coldstart kernels fetch tiny-6.1 (make test-long does), or set COLDSTART_PVPANIC_KERNEL")
	}
	o := qemu.Options{Kernel: kernel, Initrd: env.Initrd, Append: []string{"rdinit=/no/such/init", "root=/dev/nonexistent"},
		ConsoleLog: filepath.Join(t.TempDir(), "console.log")}
	dl := Deadlines{Hello: 120 * time.Second, Scenario: 120 * time.Second, Shutdown: 20 * time.Second}
	out := boot(context.Background(), o, 0, dl, func(s string) { t.Log(s) })
	require.Error(t, out.err)
	assert.True(t, errors.Is(out.err, qemu.ErrGuestPanic), "%v", out.err)
	assert.Contains(t, out.rec.QMPEvents, "GUEST_PANICKED", "QMP events: %v\n%v", out.rec.QMPEvents, out.err)
}

// TestInterruptKeepsPartialResults cancels a run in the middle of a boot,
// as Ctrl-C does, and checks that the result file holds what was measured,
// marked incomplete, and that no QEMU survives.
func TestInterruptKeepsPartialResults(t *testing.T) {
	env := testvm.Require(t)
	tag := tagQEMUs(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := t.TempDir()
	var once sync.Once
	var booting []testvm.Proc
	progress := writerFunc(func(b []byte) {
		// Cancel once the second boot's agent is up: boot 0 is complete.
		if strings.Contains(string(b), "boot 1: agent up") {
			once.Do(func() {
				booting = testvm.QEMUs(testvm.Tagged("", tag))
				cancel()
			})
		}
	})
	files, err := Run(ctx, Options{
		Targets: []Target{{Kernel: env.Kernel, Image: env.Image}}, Initrd: env.Initrd,
		Plan:  plan.Plan{Scenarios: []string{"netns", "utsns"}, Boots: 3, Iterations: 200, Warmups: 0},
		Accel: qemu.AccelTCG, CPUs: 2, MemoryMB: 512, OutDir: out, Progress: progress,
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, files, 1)
	f, err := results.Read(filepath.Join(out, env.Kernel.Name+".json"))
	require.NoError(t, err)
	assert.False(t, f.Complete)
	require.Len(t, f.Boots, 2)
	assert.Equal(t, results.StatusOK, f.Boots[0].Status)
	assert.Equal(t, "interrupted", f.Boots[1].Error)
	assert.GreaterOrEqual(t, len(f.Scenarios["netns"].Samples), 200, "boot 0's samples kept")
	require.NotEmpty(t, booting, "no QEMU of this test found while it booted: the check below would see none either")
	assert.Empty(t, qemuLeft(tag), "QEMU outlived the interrupted run")
}

type writerFunc func([]byte)

func (w writerFunc) Write(b []byte) (int, error) { w(b); return len(b), nil }

// tagQEMUs marks the QEMUs this test starts: it puts testvm.Tag into the
// test's environment, which every QEMU inherits. Their command lines name
// neither the initramfs nor the kernel (they are /proc/self/fd/N), so
// only the tag tells them from other tests' QEMUs.
func tagQEMUs(t *testing.T) string {
	tag := testvm.Tag(t)
	k, v, _ := strings.Cut(tag, "=")
	t.Setenv(k, v)
	return tag
}

// qemuLeft lists the QEMUs with tag still running, after a moment for a
// killed one to be reaped.
func qemuLeft(tag string) []testvm.Proc { return testvm.QEMUs(testvm.Left(tag, 2*time.Second)) }
