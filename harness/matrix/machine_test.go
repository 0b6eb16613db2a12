package matrix

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/machine"
	"coldstart/harness/results"
)

// Every result file records the machine, with the run's accelerator and
// guest; --resume refuses a run from another machine class and warns of
// lesser differences and of files too old to say.
func TestResumeChecksTheMachine(t *testing.T) {
	host := func(edit func(*machine.Fingerprint)) *machine.Fingerprint {
		m := &machine.Fingerprint{CPUModel: "AMD EPYC 7763 64-Core Processor", HostCPUs: 4, HostKernel: "6.8.0-1017-azure",
			QEMU: "QEMU emulator version 8.2.2"}
		if edit != nil {
			edit(m)
		}
		return m
	}
	first := func(t *testing.T) (string, Options) {
		lab := newFakeLab()
		out := t.TempDir()
		o := lab.options(t, out, &bytes.Buffer{})
		o.Adaptive, o.Boots, o.Machine = nil, 2, host(nil)
		_, err := Run(context.Background(), o)
		require.NoError(t, err)
		f, err := results.Read(filepath.Join(out, "same.json"))
		require.NoError(t, err)
		want := host(nil)
		want.Accel, want.VCPUs, want.MemoryMB = "tcg", 2, 512
		require.Equal(t, want, f.Machine)
		return out, o
	}
	for _, tc := range []struct {
		name    string
		machine *machine.Fingerprint
		old     func(*results.File) // edits the first run's files
		refuse  string
		warns   string
	}{
		{"same machine", host(nil), nil, "", ""},
		{"another CPU model", host(func(m *machine.Fingerprint) { m.CPUModel = "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz" }), nil,
			"another machine class (CPU model: the run AMD EPYC 7763 64-Core Processor, this machine Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz)", ""},
		{"another host kernel", host(func(m *machine.Fingerprint) { m.HostKernel = "6.11.0-1018-azure" }), nil,
			"", "host kernel: the run 6.8.0-1017-azure, this machine 6.11.0-1018-azure"},
		{"a file without a fingerprint", host(nil), func(f *results.File) { f.Machine = nil }, "", "records no machine fingerprint"},
		{"a file without a fingerprint, another accelerator", host(nil), func(f *results.File) { f.Machine, f.Accel = nil, "kvm" }, "accelerator: the run kvm, this machine tcg", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, o := first(t)
			if tc.old != nil {
				for _, target := range o.Targets {
					p := filepath.Join(out, target.Kernel.Name+".json")
					f, err := results.Read(p)
					require.NoError(t, err)
					tc.old(f)
					f.Complete = false
					require.NoError(t, results.Write(p, f))
				}
			}
			var progress bytes.Buffer
			o.Progress, o.Resume, o.Machine = &progress, true, tc.machine
			_, err := Run(context.Background(), o)
			if tc.refuse != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.refuse)
				return
			}
			require.NoError(t, err)
			if tc.warns == "" {
				assert.NotContains(t, progress.String(), "warning")
			} else {
				assert.Contains(t, progress.String(), "resume: warning: ")
				assert.Contains(t, progress.String(), tc.warns)
			}
		})
	}
}
