// Package logwriter batches log lines into few write system calls without
// holding them back.
//
// One write(2) per access-log line was a tenth of the server's CPU under
// load. A Writer copies each line into a buffer and a background goroutine
// writes whatever has accumulated: woken by a line, it lets more arrive
// for Linger (unless the buffer is already large), then writes them all
// with one system call. A line therefore reaches the output within about
// a millisecond; under load one write carries many lines. Nothing is
// dropped: when the output cannot keep up, Write waits once the buffer
// holds MaxBuffered bytes.
package logwriter

import (
	"io"
	"sync"
	"time"
)

// MaxBuffered is how many bytes may wait for the output before Write blocks.
const MaxBuffered = 1 << 20

// Linger is how long the writer waits for more lines before a write, and
// lingerBelow the buffered size past which it writes at once.
const (
	Linger      = time.Millisecond
	lingerBelow = 64 << 10
)

// Writer is an io.Writer that hands its lines to a background goroutine.
// Close flushes and stops it. It is safe for concurrent use.
type Writer struct {
	out io.Writer

	mu      sync.Mutex
	room    *sync.Cond // signalled when the buffer has been taken
	buf     []byte
	closed  bool
	err     error // the last write error, reported by Close
	pending chan struct{}
	done    chan struct{}
}

// New returns a Writer writing to out and starts its goroutine.
func New(out io.Writer) *Writer {
	w := &Writer{out: out, pending: make(chan struct{}, 1), done: make(chan struct{})}
	w.room = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Write queues a copy of p (slog reuses its buffer once Write returns).
// After Close it writes p directly.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.buf) >= MaxBuffered && !w.closed {
		w.room.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		<-w.done // after the last batch, never beside it
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	w.mu.Unlock()
	select {
	case w.pending <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *Writer) run() {
	defer close(w.done)
	var spare []byte
	for {
		<-w.pending
		w.mu.Lock()
		linger := !w.closed && len(w.buf) < lingerBelow
		w.mu.Unlock()
		if linger {
			time.Sleep(Linger)
		}
		w.mu.Lock()
		b := w.buf
		w.buf = spare[:0]
		closed := w.closed
		w.room.Broadcast()
		w.mu.Unlock()
		if len(b) > 0 {
			if _, err := w.out.Write(b); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
		}
		if cap(b) <= MaxBuffered {
			spare = b
		}
		if closed {
			return
		}
	}
}

// Close writes what is buffered, stops the goroutine and returns the last
// write error, if any. Later writes go straight to the output.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.room.Broadcast()
	w.mu.Unlock()
	select {
	case w.pending <- struct{}{}:
	default:
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
