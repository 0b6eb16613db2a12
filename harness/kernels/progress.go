package kernels

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// step reports one step of a fetch or build on the Fetcher's progress
// writer. Without Fetcher.Interactive (CI logs, pipes) a step is one line
// when it starts and one when it ends; with it, the step's line is redrawn in
// place with bytes, percent or the current build action, at most a few times
// a second.
type step struct {
	w           io.Writer
	interactive bool
	name        string
	start       time.Time

	mu       sync.Mutex
	last     time.Time
	drawn    bool
	finished bool
}

func (f *Fetcher) step(format string, args ...any) *step {
	s := &step{w: f.progress(), interactive: f.Interactive, name: fmt.Sprintf(format, args...), start: time.Now()}
	if s.interactive {
		s.draw("")
	} else {
		fmt.Fprintf(s.w, "%s ...\n", s.name)
	}
	return s
}

// draw redraws the step's line (interactive mode only).
func (s *step) draw(detail string) {
	// Keep the line within a terminal's width: shorten the step's name, not
	// the detail (the bytes and percent are what changes).
	const width = 110
	name := s.name
	if detail != "" {
		if len(detail) > width-20 {
			detail = detail[:width-23] + "..."
		}
		if max := width - len(detail) - 2; len(name) > max {
			name = name[:max-3] + "..."
		}
		name += ": " + detail
	} else if len(name) > width {
		name = name[:width-3] + "..."
	}
	line := name
	fmt.Fprintf(s.w, "\r\033[K%s", line)
	s.drawn = true
}

// update shows detail (interactive mode only), rate-limited.
func (s *step) update(detail string) {
	if !s.interactive {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished || time.Since(s.last) < 200*time.Millisecond {
		return
	}
	s.last = time.Now()
	s.draw(detail)
}

// bytes shows a transfer's progress; total <= 0 means unknown.
func (s *step) bytes(n, total int64) {
	if total > 0 {
		s.update(fmt.Sprintf("%s / %s (%d%%)", mb(n), mb(total), n*100/total))
	} else {
		s.update(mb(n))
	}
}

func (s *step) end(status, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	s.finished = true
	msg := status
	if format != "" {
		msg += ": " + fmt.Sprintf(format, args...)
	}
	if s.interactive {
		fmt.Fprintf(s.w, "\r\033[K%s: %s\n", s.name, msg)
	} else {
		fmt.Fprintf(s.w, "%s: %s\n", s.name, msg)
	}
}

func (s *step) done(format string, args ...any) { s.end("done", format, args...) }
func (s *step) fail()                           { s.end("failed", "after %s", time.Since(s.start).Round(time.Millisecond)) }

// watchDir reports the total size of the regular files under dir on s
// until the returned function is called (interactive mode only): apt-get
// and go write their downloads there.
func (s *step) watchDir(dir string, total int64) (stop func()) {
	if !s.interactive {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.bytes(dirSize(dir), total)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// lastLineWriter keeps the last complete line written to it, for showing
// the current action of a build.
type lastLineWriter struct {
	mu    sync.Mutex
	buf   []byte
	last  string
	lines int
}

func (w *lastLineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		if l := strings.TrimSpace(string(w.buf[:i])); l != "" {
			w.last = l
			w.lines++
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 {
		w.buf = w.buf[len(w.buf)-4096:]
	}
	return len(p), nil
}

func (w *lastLineWriter) status() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.lines
}
