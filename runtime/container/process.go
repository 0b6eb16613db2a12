package container

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// initProcess is the init stage, and after its execve the container
// process. It is started with syscall.ForkExec rather than os/exec: the
// first os.StartProcess in a process probes pidfd support by forking a
// child of its own, which cost a median 1.2 ms (first call, loaded host)
// of a start-up csrun makes once.
type initProcess struct {
	pid     int
	copies  sync.WaitGroup // stdout/stderr copied to writers that are not files
	closers []io.Closer    // our ends of the stdio pipes, closed after the wait
}

// stdio holds the init stage's fds 0, 1 and 2 as files, like os/exec: nil
// is /dev/null, an *os.File is passed as is, any other reader or writer
// gets a pipe and a goroutine copying through it.
type stdio struct {
	files      [3]*os.File
	childEnds  []*os.File // closed in the parent once the child has them
	parentEnds []io.Closer
	copies     []func()
}

func newStdio(in io.Reader, out, errw io.Writer) (*stdio, error) {
	s := &stdio{}
	var err error
	if s.files[0], err = s.input(in); err != nil {
		s.close()
		return nil, err
	}
	for i, w := range []io.Writer{out, errw} {
		if s.files[i+1], err = s.output(w); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *stdio) input(r io.Reader) (*os.File, error) {
	if f, ok := r.(*os.File); ok {
		return f, nil
	}
	if r == nil {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		s.childEnds = append(s.childEnds, f)
		return f, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.childEnds = append(s.childEnds, pr)
	s.parentEnds = append(s.parentEnds, pw)
	s.copies = append(s.copies, func() {
		io.Copy(pw, r) // EPIPE once the container is gone: fine
		pw.Close()
	})
	return pr, nil
}

func (s *stdio) output(w io.Writer) (*os.File, error) {
	if f, ok := w.(*os.File); ok {
		return f, nil
	}
	if w == nil {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		s.childEnds = append(s.childEnds, f)
		return f, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.childEnds = append(s.childEnds, pw)
	s.parentEnds = append(s.parentEnds, pr)
	s.copies = append(s.copies, func() { io.Copy(w, pr) })
	return pw, nil
}

func (s *stdio) close() {
	for _, f := range s.childEnds {
		f.Close()
	}
	for _, c := range s.parentEnds {
		c.Close()
	}
}

// start forks and execs argv0 with the stdio and extra files (as fds 3,
// 4, ...) and attr.
func start(argv0 string, argv, env []string, sio *stdio, extra []*os.File, attr *syscall.SysProcAttr) (*initProcess, error) {
	fds := make([]uintptr, 0, 3+len(extra))
	for _, f := range sio.files {
		fds = append(fds, f.Fd())
	}
	for _, f := range extra {
		fds = append(fds, f.Fd())
	}
	pid, err := syscall.ForkExec(argv0, argv, &syscall.ProcAttr{Env: env, Files: fds, Sys: attr})
	for _, f := range sio.childEnds {
		f.Close()
	}
	if err != nil {
		for _, c := range sio.parentEnds {
			c.Close()
		}
		return nil, err
	}
	p := &initProcess{pid: pid, closers: sio.parentEnds}
	for _, c := range sio.copies {
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			c()
		}()
	}
	return p, nil
}

// signal sends sig to the process.
func (p *initProcess) signal(sig unix.Signal) error { return unix.Kill(p.pid, sig) }

// kill kills the process and reaps it.
func (p *initProcess) kill() {
	p.signal(unix.SIGKILL)
	p.wait()
}

// wait reaps the process and waits for its output to be copied.
func (p *initProcess) wait() (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	var err error
	for {
		_, err = unix.Wait4(p.pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	p.copies.Wait()
	for _, c := range p.closers {
		c.Close()
	}
	return ws, err
}
