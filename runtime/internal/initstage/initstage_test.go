package initstage

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755))
	require.NoError(t, os.Symlink("/usr/lib", filepath.Join(root, "lib")))
	require.NoError(t, os.Symlink("../../../../etc", filepath.Join(root, "escape")))
	require.NoError(t, os.Symlink("loop", filepath.Join(root, "loop")))
	require.NoError(t, os.Symlink("usr//lib/", filepath.Join(root, "rel")))
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/proc", "/proc"},
		{"/lib/x", "/usr/lib/x"},
		{"/escape/passwd", "/etc/passwd"},
		{"/../../etc", "/etc"},
		{"/usr/./lib/../lib", "/usr/lib"},
		{"/rel/x", "/usr/lib/x"},
		{"/new/dir", "/new/dir"},
	} {
		got, err := resolveIn(root, tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, filepath.Join(root, tc.want), got, tc.in)
	}
	_, err := resolveIn(root, "/loop/x")
	assert.ErrorContains(t, err, "too many levels")
}

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		fmt.Println("main") // TestConstructorIgnoresOtherProcesses
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type message struct {
	Type  string `json:"type"`
	Spans []struct {
		Name       string `json:"n"`
		Start, End int64
	} `json:"spans"`
	Op    int    `json:"op"`
	Errno int    `json:"errno"`
	Error string `json:"error"`
}

// runStage runs this test binary as an init stage (the constructor takes
// over before the tests start) with program, and returns its messages,
// its stdout and its exit error.
func runStage(t *testing.T, program []byte) ([]message, string, error) {
	t.Helper()
	bootR, bootW, err := os.Pipe()
	require.NoError(t, err)
	syncR, syncW, err := os.Pipe()
	require.NoError(t, err)
	stateDir, err := os.Open(t.TempDir())
	require.NoError(t, err)
	var stdout strings.Builder
	cmd := exec.Command(os.Args[0], "init")
	cmd.Args[0] = "csrun"
	cmd.Env = []string{Env}
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{bootR, syncW, stateDir}
	require.NoError(t, cmd.Start())
	bootR.Close()
	syncW.Close()
	stateDir.Close()
	_, err = bootW.Write(program)
	require.NoError(t, err)
	bootW.Close()
	var msgs []message
	sc := bufio.NewScanner(syncR)
	for sc.Scan() {
		var m message
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		msgs = append(msgs, m)
	}
	syncR.Close()
	err = cmd.Wait()
	return msgs, stdout.String(), err
}

func TestStageRunsProgramAndExecs(t *testing.T) {
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	require.NoError(t, os.WriteFile(out, nil, 0o644))

	p := New()
	p.Mark("bootstrap")
	p.WriteFile("a file", out, []byte("written\n"))
	p.MkdirAll("mkdir", filepath.Join(dir, "a/b/c"))
	p.Symlink("link", "a/b", filepath.Join(dir, "l"))
	p.Symlink("link again", "a/b", filepath.Join(dir, "l")) // EEXIST is fine
	p.Mark("files")
	p.Ready()
	p.Close(FDStateDir)
	p.LookPath("process.args[0]", "sh", "/nonexistent::"+filepath.Dir(sh))
	p.Chdir("process.cwd", dir)
	p.Rlimit("process.rlimits RLIMIT_NOFILE", unix.RLIMIT_NOFILE, 512, 1024)
	p.Umask(0o027)
	p.Mark("")
	p.Mark("limits")
	p.ExecMsg()
	p.Execve("", []string{"sh", "-c", `echo "$0 $X $(pwd) $(umask) $(ulimit -n) $(cat /proc/$$/comm)"`}, []string{"X=y"})

	msgs, stdout, err := runStage(t, p.Bytes())
	require.NoError(t, err, "messages %+v", msgs)
	require.Len(t, msgs, 2)
	assert.Equal(t, "ready", msgs[0].Type)
	require.Len(t, msgs[0].Spans, 2)
	assert.Equal(t, "bootstrap", msgs[0].Spans[0].Name)
	assert.Equal(t, "files", msgs[0].Spans[1].Name)
	assert.Equal(t, msgs[0].Spans[0].End, msgs[0].Spans[1].Start)
	assert.Equal(t, "exec", msgs[1].Type)
	require.Len(t, msgs[1].Spans, 1)
	assert.Equal(t, "limits", msgs[1].Spans[0].Name)
	assert.Equal(t, "sh y "+dir+" 0027 512 sh\n", stdout)

	data, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "written\n", string(data))
	st, err := os.Stat(filepath.Join(dir, "l/c"))
	require.NoError(t, err)
	assert.True(t, st.IsDir())
}

func TestStageReportsFailingOperation(t *testing.T) {
	p := New()
	p.Mark("bootstrap")
	p.MkdirAll("mkdir", t.TempDir())
	p.Chdir("process.cwd", "/nonexistent/dir")
	p.Execve("", []string{"true"}, nil)

	msgs, _, err := runStage(t, p.Bytes())
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.ExitCode())
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Equal(t, "error", m.Type)
	assert.Equal(t, 2, m.Op)
	serr := p.Err(m.Op, m.Errno, m.Error)
	assert.Equal(t, "process.cwd: chdir /nonexistent/dir: no such file or directory", serr.Error())
	assert.True(t, errors.Is(serr, unix.ENOENT))
}

func TestStageRefusesBadPrograms(t *testing.T) {
	good := New()
	good.Mark("x")
	good.Execve("", []string{"true"}, nil)
	b := good.Bytes()

	badCode := append([]byte(nil), b...)
	binary.NativeEndian.PutUint32(badCode[8:], 999)
	badArgs := New()
	badArgs.op(1, "", s("a"), s("b")) // CSI_MARK takes one argument
	badU64 := New()
	badU64.op(17, "", s("not eight bytes")) // CSI_CLOSE takes a uint64
	for _, tc := range []struct {
		name, want string
		prog       []byte
	}{
		{"empty", "not an init stage program", nil},
		{"wrong magic", "not an init stage program", []byte("JSON{...}")},
		{"truncated", "truncated program", b[:len(b)-3]},
		{"unknown operation", "malformed operation 999", badCode},
		{"wrong argument count", "malformed operation 1", badArgs.Bytes()},
		{"short integer", "malformed operation 17", badU64.Bytes()},
		{"no exec", "ended without exec", New().Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, _, err := runStage(t, tc.prog)
			require.Error(t, err)
			require.Len(t, msgs, 1)
			assert.Equal(t, "error", msgs[0].Type)
			assert.Contains(t, msgs[0].Error, tc.want)
		})
	}
}

// A process that is not an init stage csrun started reaches main.
func TestConstructorIgnoresOtherProcesses(t *testing.T) {
	for _, env := range [][]string{nil, {"_CSRUN_INIT=0"}} {
		cmd := exec.Command(os.Args[0], "init")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Equal(t, "main\n", string(out), "env %q", env)
	}
}
