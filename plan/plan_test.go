package plan

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		want    Boot
		wantErr string
	}{
		{"defaults", "console=ttyS0 panic=-1", DefaultBoot(), ""},
		{"full", "console=ttyS0 coldstart.scenarios=netns,,ipcns coldstart.iterations=7 coldstart.warmups=0 coldstart.batch=3 coldstart.port=/dev/ttyS2 coldstart.fault=hang",
			Boot{Plan: Plan{Scenarios: []string{"netns", "ipcns"}, Iterations: 7, Warmups: 0}, Batch: 3, Port: "/dev/ttyS2", Fault: "hang"}, ""},
		{"typo", "coldstart.iteration=5", Boot{}, "unknown key coldstart.iteration"},
		{"zero iterations", "coldstart.iterations=0", Boot{}, "above 0"},
		{"negative warmups", "coldstart.warmups=-1", Boot{}, "above -1"},
		{"zero slow warmups", "coldstart.slow-warmups=0", Boot{}, "above 0"},
		{"bad fault", "coldstart.fault=explode", Boot{}, "crash, hang or garbage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.cmdline)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCmdlineRoundTrip(t *testing.T) {
	for _, b := range []Boot{
		{Plan: Plan{Scenarios: []string{"netns", "mqueue"}, Iterations: 20, Warmups: 3}, Batch: 10, Port: "/dev/ttyS1"},
		{Plan: Plan{Iterations: 1, Warmups: 0}, Batch: 4, Port: "/dev/ttyS3", Fault: "crash"},
		{Plan: Plan{Iterations: 20, SlowIterations: 5, Warmups: 1}, Batch: 10, Port: "/dev/ttyS1"},
		{Plan: Plan{Iterations: 20, SlowIterations: 5, Warmups: 3, SlowWarmups: 1, Trace: 2}, Batch: 10, Port: "/dev/ttyS1"},
	} {
		var words string
		for _, w := range b.Cmdline() {
			words += w + " "
		}
		got, err := Parse(words)
		require.NoError(t, err)
		assert.Equal(t, b, got)
	}
}

// The host sends the plan's words alone: what the harness records as
// QEMU's command line depends on their exact form.
func TestPlanCmdline(t *testing.T) {
	p := Plan{Scenarios: []string{"netns", "oci-run/crun/none"}, Boots: 5, MaxBoots: 15, Iterations: 30, SlowIterations: 5, Warmups: 3, SlowWarmups: 1, Trace: 2}
	assert.Equal(t, []string{"coldstart.scenarios=netns,oci-run/crun/none", "coldstart.iterations=30", "coldstart.warmups=3",
		"coldstart.slow-iterations=5", "coldstart.slow-warmups=1", "coldstart.trace=2"}, p.Cmdline())
	assert.Equal(t, p.Cmdline(), Boot{Plan: p, Batch: 10, Port: "/dev/ttyS1"}.Cmdline())
	assert.Equal(t, []string{"coldstart.iterations=1", "coldstart.warmups=0"}, Plan{Iterations: 1}.Cmdline())
}

func TestIterationsFor(t *testing.T) {
	p := Plan{Iterations: 20, SlowIterations: 5}
	assert.Equal(t, 20, p.IterationsFor("netns"))
	assert.Equal(t, 5, p.IterationsFor("oci-run/crun/none"))
	assert.Equal(t, 5, p.IterationsFor("seccomp-load"))
	assert.Equal(t, 20, Plan{Iterations: 20}.IterationsFor("oci-run/crun/none"))
}

func TestWarmupsFor(t *testing.T) {
	p := Plan{Warmups: 3, SlowWarmups: 1}
	assert.Equal(t, 3, p.WarmupsFor("netns"))
	assert.Equal(t, 1, p.WarmupsFor("oci-run/csrun/cached"))
	assert.Equal(t, 1, p.WarmupsFor("seccomp-compile"))
	assert.Equal(t, 3, Plan{Warmups: 3}.WarmupsFor("oci-run/crun/none"), "0: same as Warmups")
	assert.Equal(t, 0, Plan{SlowWarmups: 2}.WarmupsFor("clone-all"))
}

func TestSame(t *testing.T) {
	p := Plan{Scenarios: []string{"netns", "ipcns"}, Boots: 5, MaxBoots: 15, Iterations: 30, Warmups: 3}
	q := p
	q.AddedBoots = 4
	assert.True(t, p.Same(q), "added boots do not make another plan")
	for _, edit := range []func(*Plan){
		func(p *Plan) { p.Scenarios = []string{"netns"} },
		func(p *Plan) { p.Boots++ },
		func(p *Plan) { p.MaxBoots++ },
		func(p *Plan) { p.Iterations++ },
		func(p *Plan) { p.SlowIterations++ },
		func(p *Plan) { p.Trace++ },
		func(p *Plan) { p.Warmups++ },
		func(p *Plan) { p.SlowWarmups++ },
	} {
		q := p
		edit(&q)
		assert.False(t, p.Same(q), "%+v", q)
	}
}

func TestCatalogue(t *testing.T) {
	assert.Equal(t, []string{"netns", "ipcns", "utsns", "pidns", "mntns", "userns", "cgroupns", "mqueue", "clone-all"}, Primitives())
	assert.Equal(t, []string{"seccomp-resolve", "seccomp-compile", "seccomp-load"}, SeccompSteps())
	assert.Equal(t, []string{
		"oci-run/csrun/none", "oci-run/csrun/default", "oci-run/csrun/cached",
		"oci-run/crun/none", "oci-run/crun/default", "oci-run/runc/none", "oci-run/runc/default",
	}, ContainerRuns())
	assert.Equal(t, []string{"isolation/csrun", "isolation/crun", "isolation/runc"}, IsolationChecks())
	assert.Equal(t, append(append(Primitives(), SeccompSteps()...), ContainerRuns()...), All())
	assert.Contains(t, All(), "oci-run/runc/none")
	assert.NotContains(t, Default(), "oci-run/runc/none")
	assert.Len(t, Default(), len(All())-len(NotByDefault))

	kinds := map[Kind][]string{Primitive: Primitives(), SeccompStep: SeccompSteps(), ContainerRun: ContainerRuns(), IsolationCheck: IsolationChecks()}
	for kind, names := range kinds {
		for _, n := range names {
			s, err := Lookup(n)
			require.NoError(t, err, n)
			assert.Equal(t, n, s.Name)
			assert.Equal(t, kind, s.Kind, n)
			assert.Equal(t, kind, KindOf(n), n)
			assert.Equal(t, kind != Primitive, IsSlow(n), n)
			if kind != Primitive {
				assert.NotEmpty(t, s.Runtime.Path, n)
			}
		}
	}
	s, _ := Lookup("oci-run/crun/default")
	assert.Equal(t, Scenario{Name: "oci-run/crun/default", Kind: ContainerRun, Runtime: Runtimes[1], Seccomp: SeccompDefault}, s)
	s, _ = Lookup("seccomp-compile")
	assert.Equal(t, "csrun", s.Runtime.Name, "csrun times the seccomp steps")
}

func TestLookupUnknown(t *testing.T) {
	tests := []struct{ name, want string }{
		{"oci-run/crun/cached", "only csrun"},
		{"oci-run/podman/none", "unknown runtime"},
		{"oci-run/crun/strict", "unknown seccomp mode"},
		{"oci-run/crun", "unknown container scenario"},
		{"isolation/podman", "unknown runtime"},
		{"seccomp-frob", `unknown scenario "seccomp-frob" (valid: netns, ipcns, utsns, pidns, mntns, userns, cgroupns, mqueue, clone-all)`},
		{"NETNS", "unknown scenario"},
		{"", "unknown scenario"},
	}
	for _, tt := range tests {
		_, err := Lookup(tt.name)
		assert.ErrorContains(t, err, tt.want, tt.name)
	}
}

// Every command that builds an initramfs asks NeedsRuntimes. ci once
// asked only whether a scenario was a container run, and its initramfs
// for seccomp-compile had no csrun.
func TestNeedsRuntimes(t *testing.T) {
	assert.False(t, NeedsRuntimes(Primitives()))
	assert.False(t, NeedsRuntimes(nil))
	for _, n := range append(append(SeccompSteps(), ContainerRuns()...), IsolationChecks()...) {
		assert.True(t, NeedsRuntimes([]string{"netns", n}), n)
	}
}
