package machine

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCPUModel(t *testing.T) {
	for _, tc := range []struct{ name, cpuinfo, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  7763 64-Core Processor\nmodel name\t: other\n", "AMD EPYC 7763 64-Core Processor"},
		{"arm64 with a Model line", "processor\t: 0\nBogoMIPS\t: 50.00\n\nModel\t: Raspberry Pi 4 Model B Rev 1.4\n", "Raspberry Pi 4 Model B Rev 1.4"},
		{"nothing known", "processor\t: 0\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, cpuModel([]byte(tc.cpuinfo))) })
	}
}

func TestKeyAndDiff(t *testing.T) {
	base := Fingerprint{CPUModel: "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz", HostCPUs: 4, HostKernel: "6.8.0-1017-azure",
		QEMU: "QEMU emulator version 8.2.2", Accel: "tcg", VCPUs: 2, MemoryMB: 1024}
	assert.Equal(t, "tcg-2cpu-1024m-intel-r-xeon-r-platinum-8370c-cpu-2-80ghz", base.Key())
	for _, tc := range []struct {
		name         string
		edit         func(*Fingerprint)
		class, other []string
		accel        bool
	}{
		{"same", func(*Fingerprint) {}, nil, nil, false},
		{"accelerator", func(f *Fingerprint) { f.Accel = "kvm" }, []string{"accelerator: a tcg, b kvm"}, nil, true},
		{"CPU model", func(f *Fingerprint) { f.CPUModel = "AMD EPYC 7763 64-Core Processor" },
			[]string{"CPU model: a Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz, b AMD EPYC 7763 64-Core Processor"}, nil, false},
		{"vCPUs and memory", func(f *Fingerprint) { f.VCPUs, f.MemoryMB = 1, 512 },
			[]string{"guest vCPUs: a 2, b 1", "guest memory MiB: a 1024, b 512"}, nil, false},
		{"host kernel, QEMU, host CPUs: warnings only", func(f *Fingerprint) { f.HostKernel, f.QEMU, f.HostCPUs = "6.11.0", "QEMU emulator version 9.0.0", 16 },
			nil, []string{"host kernel: a 6.8.0-1017-azure, b 6.11.0", "QEMU: a QEMU emulator version 8.2.2, b QEMU emulator version 9.0.0", "host CPUs: a 4, b 16"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			tc.edit(&b)
			class, other, accel := Diff(&base, &b, "a", "b")
			assert.Equal(t, tc.class, class)
			assert.Equal(t, tc.other, other)
			assert.Equal(t, tc.accel, accel)
			assert.Equal(t, len(tc.class) == 0, base.Key() == b.Key(), "the key names the class")
		})
	}
}
