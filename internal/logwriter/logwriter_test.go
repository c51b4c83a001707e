package logwriter_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thecombine/combine/internal/logwriter"
)

// slowOut records each write and takes a while over it, like a disk or a
// pipe under pressure.
type slowOut struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
	err    error
}

func (o *slowOut) Write(p []byte) (int, error) {
	time.Sleep(o.delay)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes++
	o.buf.Write(p)
	return len(p), o.err
}

func (o *slowOut) snapshot() (string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String(), o.writes
}

// TestEveryLineOnceAndWhole: lines from many goroutines all arrive, each
// exactly once and in one piece, in far fewer writes than lines when the
// output is slow; the caller's buffer may be reused at once.
func TestEveryLineOnceAndWhole(t *testing.T) {
	t.Parallel()
	out := &slowOut{delay: time.Millisecond}
	w := logwriter.New(out)
	const goroutines, lines = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			buf := make([]byte, 0, 64)
			for i := range lines {
				buf = fmt.Appendf(buf[:0], "g%d line %d %s\n", g, i, strings.Repeat("x", i%40))
				if n, err := w.Write(buf); err != nil || n != len(buf) {
					t.Errorf("Write = %d, %v", n, err)
				}
				for j := range buf { // what slog does with its pooled buffer
					buf[j] = '#'
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, writes := out.snapshot()
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if seen[l] || strings.Contains(l, "#") {
			t.Fatalf("line %q repeated or corrupted", l)
		}
		seen[l] = true
	}
	for g := range goroutines {
		for i := range lines {
			if l := fmt.Sprintf("g%d line %d %s", g, i, strings.Repeat("x", i%40)); !seen[l] {
				t.Fatalf("line %q is missing", l)
			}
		}
	}
	if writes >= goroutines*lines/10 {
		t.Fatalf("%d writes for %d lines: lines are not batched", writes, goroutines*lines)
	}
}

// TestQuietLineGoesOutAtOnce: with nothing else happening a line reaches
// the output without waiting for more.
func TestQuietLineGoesOutAtOnce(t *testing.T) {
	t.Parallel()
	out := &slowOut{}
	w := logwriter.New(out)
	defer w.Close()
	_, _ = w.Write([]byte("alone\n"))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if got, _ := out.snapshot(); got == "alone\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a lone line was held back")
		}
	}
}

// TestBackpressure: when the output stalls, writers wait once MaxBuffered
// bytes are queued instead of growing the buffer without end, and
// continue when it drains.
func TestBackpressure(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	out := &gatedOut{gate: gate}
	w := logwriter.New(out)
	line := bytes.Repeat([]byte("y"), 64<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 * logwriter.MaxBuffered / len(line) {
			_, _ = w.Write(line)
		}
	}()
	select {
	case <-done:
		t.Fatal("3 MB were accepted while the output was stalled")
	case <-time.After(200 * time.Millisecond):
	}
	close(gate)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writers did not resume when the output drained")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.n != 3*logwriter.MaxBuffered {
		t.Fatalf("%d bytes written, want %d", out.n, 3*logwriter.MaxBuffered)
	}
}

type gatedOut struct {
	gate chan struct{}
	n    int
}

func (o *gatedOut) Write(p []byte) (int, error) {
	<-o.gate
	o.n += len(p)
	return len(p), nil
}

// TestCloseReportsErrorsAndWritesThrough: Close returns the output's
// error; a line written after Close goes straight to the output.
func TestCloseReportsErrorsAndWritesThrough(t *testing.T) {
	t.Parallel()
	out := &slowOut{err: errors.New("disk full")}
	w := logwriter.New(out)
	_, _ = w.Write([]byte("one\n"))
	if err := w.Close(); err == nil || err.Error() != "disk full" {
		t.Fatalf("Close = %v, want the write error", err)
	}
	out.mu.Lock()
	out.err = nil
	out.mu.Unlock()
	if _, err := w.Write([]byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := out.snapshot(); got != "one\ntwo\n" {
		t.Fatalf("output %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}
