package qemu

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name; a mismatch writes name.got and
// shows the difference.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	if string(want) != got {
		os.WriteFile(path+".got", []byte(got), 0o644)
		assert.Equal(t, string(want), got, "(-want +got); the new output is in %s.got", path)
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"tcg-defaults", Options{Kernel: "/k/vmlinux", Initrd: "/i/initramfs.cpio", Append: []string{"coldstart.iterations=5"}}},
		{"tcg-single-thread", Options{Kernel: "/k/vmlinux", Initrd: "/i/x.cpio", TCGThread: "single"}},
		{"kvm-4cpu", Options{Kernel: "/k/bzImage", Initrd: "/i/x.cpio", Accel: AccelKVM, CPUs: 4, MemoryMB: 2048, Extra: []string{"-bios", "qboot.rom"}}},
		{"virtual-clock", Options{Kernel: "/k/vmlinux", Initrd: "/i/x.cpio", Clock: ClockVirtual, CPUs: 1, Append: []string{"coldstart.iterations=5"}}},
	}
	var b strings.Builder
	for _, tt := range tests {
		fmt.Fprintf(&b, "%s:\n", tt.name)
		for _, a := range Args(tt.o, "/tmp/ev.sock", "/tmp/qmp.sock") {
			fmt.Fprintf(&b, "  %s\n", a)
		}
	}
	golden(t, "args.golden", b.String())
	// No network device, ever: -nodefaults and no -netdev/-nic.
	for _, a := range Args(tests[0].o, "e", "q") {
		assert.NotContains(t, a, "netdev")
	}
}

func TestShellQuote(t *testing.T) {
	assert.Equal(t, `qemu -append 'console=ttyS0 panic=-1' 'it'\''s' ''`, shellQuote([]string{"qemu", "-append", "console=ttyS0 panic=-1", "it's", ""}))
}

func TestRingTail(t *testing.T) {
	r := newRing(3)
	assert.Empty(t, r.tail(5))
	for i := 1; i <= 5; i++ {
		r.add(fmt.Sprint(i))
	}
	assert.Equal(t, []string{"3", "4", "5"}, r.tail(5))
	assert.Equal(t, []string{"4", "5"}, r.tail(2))
}

func TestBootErrorCarriesDiagnosis(t *testing.T) {
	e := &BootError{Kind: ErrTimeout, Detail: "waited too long", CommandLine: "qemu-system-x86_64 -m 1024", ConsoleTail: []string{"[ 1.0] last line"}}
	assert.ErrorIs(t, e, ErrTimeout)
	assert.Contains(t, e.Error(), "[ 1.0] last line")
	assert.Contains(t, e.Error(), "qemu-system-x86_64 -m 1024")
}
