package matrix

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"coldstart/harness/compare"
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

// Verdicts gates the kernels that have a baseline (compare.Gate): a
// baseline from another machine class is refused, a run without a
// scenario its plan asked for has a gap, and a baseline scenario the run
// did not ask for is only a warning.
func TestVerdictsGate(t *testing.T) {
	k := fakeKernels()[0] // "same": steady on both sides
	run := func(edit func(*results.File)) *results.File {
		f := fakeBaseline(fakeKernel{name: k.name, baseBoots: 5, base: k.run})
		f.Machine = &machine.Fingerprint{CPUModel: "AMD EPYC 7763 64-Core Processor", Accel: "tcg", VCPUs: 2, MemoryMB: 512}
		edit(f)
		return f
	}
	base := run(func(*results.File) {})
	o := compare.DefaultOptions()
	o.Rounds = 200
	for _, tc := range []struct {
		name string
		run  *results.File
		want error
		says string
	}{
		{"same machine, same scenarios", run(func(*results.File) {}), nil, ""},
		{"another CPU model", run(func(f *results.File) { f.Machine.CPUModel = "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz" }),
			compare.ErrRefused, "CPU model"},
		{"a planned scenario missing", run(func(f *results.File) { delete(f.Scenarios, "ipcns") }), compare.ErrGaps, "ipcns on same: in the base but not in the new run"},
		{"a boot missing", run(func(f *results.File) { f.Complete = false }), compare.ErrGaps, "the new run (same"},
		{"a scenario not asked for", run(func(f *results.File) {
			delete(f.Scenarios, "ipcns")
			f.Plan.Scenarios = []string{"netns"}
		}), nil, "ipcns on same: not compared: in the base, but this run did not ask for it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, none := Verdicts([]*results.File{tc.run}, map[string]*results.File{k.name: base}, o)
			assert.Empty(t, none)
			err := r.GateErr()
			if tc.want == nil {
				require.NoError(t, err)
				if tc.says != "" {
					assert.Contains(t, r.Warnings, tc.says)
				}
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.says)
		})
	}
}
