package scenario

import "testing"

// benchScenario reports the mean wall time as ns/op (replacing the loop's
// own timing) and the mean system call time as op-ns/op.
func benchScenario(b *testing.B, name string) {
	requireRoot(b)
	s, err := Lookup(name)
	if err != nil {
		b.Fatal(err)
	}
	requireSupported(b, s)
	if s.Name == "mqueue" {
		enterThrowawayMountNS(b)
	}
	var wall, op int64
	b.ResetTimer()
	for b.Loop() {
		smp, err := s.Run()
		if err != nil {
			b.Fatal(err)
		}
		wall += smp.WallNS
		op += smp.OpNS
	}
	b.ReportMetric(float64(wall)/float64(b.N), "ns/op")
	b.ReportMetric(float64(op)/float64(b.N), "op-ns/op")
}

func BenchmarkNetns(b *testing.B)    { benchScenario(b, "netns") }
func BenchmarkIpcns(b *testing.B)    { benchScenario(b, "ipcns") }
func BenchmarkUtsns(b *testing.B)    { benchScenario(b, "utsns") }
func BenchmarkPidns(b *testing.B)    { benchScenario(b, "pidns") }
func BenchmarkMntns(b *testing.B)    { benchScenario(b, "mntns") }
func BenchmarkUserns(b *testing.B)   { benchScenario(b, "userns") }
func BenchmarkCgroupns(b *testing.B) { benchScenario(b, "cgroupns") }
func BenchmarkMqueue(b *testing.B)   { benchScenario(b, "mqueue") }
func BenchmarkCloneAll(b *testing.B) { benchScenario(b, "clone-all") }
