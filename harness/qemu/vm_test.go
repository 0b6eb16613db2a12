package qemu_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/event"
	"coldstart/harness/qemu"
	"coldstart/internal/testvm"
	"coldstart/plan"
)

// TestVMIsolation boots the default kernel and checks how the guest is
// confined: QEMU runs unprivileged under TCG when we are root, and the
// guest has no network device but loopback.
func TestVMIsolation(t *testing.T) {
	env := testvm.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	vm, err := qemu.Start(ctx, qemu.Options{Kernel: env.Image.Boot(), Initrd: env.Initrd,
		Append: plan.Plan{Iterations: 1}.Cmdline()})
	require.NoError(t, err)
	defer vm.Stop()

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", vm.Pid()))
	require.NoError(t, err)
	if os.Geteuid() == 0 {
		assert.Contains(t, string(status), fmt.Sprintf("\nUid:\t%d\t", qemu.Unprivileged), "QEMU under TCG must not run as root")
		assert.Equal(t, fmt.Sprintf("uid %d", qemu.Unprivileged), vm.User())
	}
	assert.NotContains(t, vm.CommandLine(), "-netdev")

	var hello *event.Hello
	var done bool
	for e := range vm.Events() {
		switch e.Type {
		case event.TypeHello:
			hello = e.Hello
		case event.TypeDone:
			done = true
		}
	}
	require.NoError(t, vm.Wait(), strings.Join(vm.ConsoleTail(20), "\n"))
	require.NotNil(t, hello)
	assert.True(t, done)
	assert.Equal(t, []string{"lo"}, hello.NetIfaces, "the guest must have no network device")
}
