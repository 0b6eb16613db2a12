// Package syncio holds a writer that many goroutines may share.
//
// Environment: none.
package syncio

import (
	"io"
	"sync"
)

// Writer serializes writes to W: each Write reaches W whole, never
// interleaved with another goroutine's.
type Writer struct {
	mu sync.Mutex
	W  io.Writer
}

// NewWriter wraps w.
func NewWriter(w io.Writer) *Writer { return &Writer{W: w} }

func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}
