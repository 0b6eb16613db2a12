package seccomp

import (
	"encoding/json"
	"os"
	"testing"

	"coldstart/runtime/internal/linux"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func defaultProfile(t testing.TB) *specs.LinuxSeccomp {
	data, err := os.ReadFile("../../profiles/default.json")
	require.NoError(t, err)
	var sc specs.LinuxSeccomp
	require.NoError(t, json.Unmarshal(data, &sc))
	return &sc
}

func TestCompile(t *testing.T) {
	errno := uint(42)
	for _, tc := range []struct {
		name    string
		profile *specs.LinuxSeccomp
		wantErr string
	}{
		{"default profile", defaultProfile(t), ""},
		{"allow all", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, ""},
		{"unknown names are skipped", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"no_such_syscall", "mkdir"}, Action: specs.ActErrno, ErrnoRet: &errno}}}, ""},
		{"same-index args become separate rules", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0, Op: specs.OpEqualTo}, {Index: 0, Value: 8, Op: specs.OpEqualTo}}}}}, ""},
		{"masked equal", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0x7E020000, ValueTwo: 0, Op: specs.OpMaskedEqual}}}}}, ""},
		{"architectures", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}}, ""},
		{"notify refused", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "not supported"},
		{"errno out of range", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: func() *uint { v := uint(70000); return &v }()}, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog, err := Compile(tc.profile)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.NoError(t, linux.ValidateBPF(prog))
		})
	}
}

func TestCompileDeterministic(t *testing.T) {
	a, err := Compile(defaultProfile(t))
	require.NoError(t, err)
	b, err := Compile(defaultProfile(t))
	require.NoError(t, err)
	assert.Equal(t, a, b, "same profile, different BPF: the cache key would be unsound")
}

func TestVersion(t *testing.T) {
	assert.Regexp(t, `^2\.\d+\.\d+$`, Version())
}

func BenchmarkCompileDefault(b *testing.B) {
	p := defaultProfile(b)
	for b.Loop() {
		if _, err := Compile(p); err != nil {
			b.Fatal(err)
		}
	}
}
