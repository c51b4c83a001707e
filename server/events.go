package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/thecombine/combine"
)

// EventWaker wakes the event streams of an execution when its events may
// have changed (events.Notifier). Streams work without one, by polling.
type EventWaker interface {
	Subscribe(executionID string) (wake <-chan struct{}, cancel func())
}

// eventListener is an EventWaker that can say whether it receives every
// instance's notifications (PostgreSQL LISTEN): streams then poll rarely.
type eventListener interface {
	Listening() bool
}

// Defaults of the event stream; EngineDeps may override them.
const (
	defaultEventPoll = 500 * time.Millisecond
	// listeningEventPoll is the fallback poll while notifications arrive.
	listeningEventPoll    = 5 * time.Second
	defaultEventKeepalive = 15 * time.Second
	// eventBatch is how many events one read of the log returns.
	eventBatch = 200
	// eventRetryMillis is the reconnection delay suggested to EventSource.
	eventRetryMillis = 2000
)

// handleExecutionEvents streams an execution's event log as Server-Sent
// Events: each event with its sequence number as id, replay from
// Last-Event-ID (or ?after=), a keepalive comment while idle, and the end
// of the stream after the terminal event. New events are found by tailing
// the durable log, woken early by the EventWaker when there is one.
func (s *Server) handleExecutionEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	after, err := resumePoint(r)
	if err != nil {
		return err
	}
	execs, err := s.executions()
	if err != nil {
		return err
	}
	if s.Engine.Events == nil {
		return errors.New("event service is not wired")
	}
	exe, err := execs.FindExecution(ctx, id)
	if err != nil {
		return err
	}
	// Subscribe before the first read, so that an event appended between
	// the read and the wait still wakes the stream.
	var wake <-chan struct{}
	if s.Engine.EventWaker != nil {
		ch, cancel := s.Engine.EventWaker.Subscribe(id)
		defer cancel()
		wake = ch
	}
	// Live progress of LLM calls in flight: sent between the logged
	// events, without an id (it is not part of the durable log).
	var progress <-chan combine.Progress
	if s.Engine.Progress != nil {
		ch, cancel := s.Engine.Progress.SubscribeProgress(id)
		defer cancel()
		progress = ch
	}
	batch, err := s.Engine.Events.ListEvents(ctx, id, after, eventBatch)
	if err != nil {
		return err
	}
	if len(batch) == 0 && exe.Status.Terminal() {
		// Everything was delivered before: 204 tells EventSource not to
		// reconnect.
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &sseStream{w: w, rc: http.NewResponseController(w)}
	st.printf("retry: %d\n\n", eventRetryMillis)
	st.flush() // the client sees the stream open even before the first event

	keepEvery := s.Engine.EventKeepalive
	if keepEvery <= 0 {
		keepEvery = defaultEventKeepalive
	}
	poll := time.NewTimer(s.eventPoll())
	defer poll.Stop()
	keep := time.NewTimer(keepEvery)
	defer keep.Stop()

	for {
		for _, ev := range batch {
			st.event(ev)
			after = ev.Seq
			if combine.IsTerminalEvent(ev.Type) {
				st.flush()
				return nil
			}
		}
		if len(batch) > 0 {
			st.flush()
			keep.Reset(keepEvery)
		}
		if st.err != nil {
			return nil // the client went away
		}
		if len(batch) < eventBatch {
			poll.Reset(s.eventPoll())
			if !st.wait(r, s.shutdown, wake, progress, poll.C, keep, keepEvery) {
				return nil
			}
		}
		batch, err = s.Engine.Events.ListEvents(ctx, id, after, eventBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.ErrorContext(ctx, "event stream: reading the log failed",
					slog.String("request_id", combine.RequestIDFromContext(ctx)),
					slog.String("execution_id", id), slog.String("error", err.Error()))
			}
			return nil // headers are sent; the client reconnects with Last-Event-ID
		}
	}
}

// eventPoll is how long a stream waits for a wake-up before it re-reads
// the log anyway: EngineDeps.EventPoll when set; otherwise long while the
// waker hears every instance's appends, short when it does not (SQLite,
// or a PostgreSQL listener that is reconnecting).
func (s *Server) eventPoll() time.Duration {
	if s.Engine.EventPoll > 0 {
		return s.Engine.EventPoll
	}
	if l, ok := s.Engine.EventWaker.(eventListener); ok && l.Listening() {
		return listeningEventPoll
	}
	return defaultEventPoll
}

// resumePoint is the sequence number after which to stream: the
// Last-Event-ID header of a reconnecting EventSource, else the ?after=
// parameter (for clients that cannot set headers), else 0.
func resumePoint(r *http.Request) (int64, error) {
	name, v := "Last-Event-ID header", strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if v == "" {
		name, v = "after parameter", strings.TrimSpace(r.URL.Query().Get("after"))
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, combine.Errorf(combine.EINVALID, "the %s must be an event sequence number (a whole number ≥ 0), not %q", name, v)
	}
	return n, nil
}

// sseStream writes the text/event-stream format and remembers the first
// write error (a client that went away).
type sseStream struct {
	w   io.Writer
	rc  *http.ResponseController
	err error
}

func (st *sseStream) printf(format string, args ...any) {
	if st.err == nil {
		_, st.err = fmt.Fprintf(st.w, format, args...)
	}
}

// event writes one event; the JSON encoding has no newlines, so it fits
// in a single data line.
func (st *sseStream) event(ev *combine.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		st.err = err
		return
	}
	st.printf("id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, b)
}

// progress writes a live progress report: an event without an id, so a
// reconnecting client resumes from the last logged event.
func (st *sseStream) progress(p combine.Progress) {
	b, err := json.Marshal(p)
	if err != nil {
		st.err = err
		return
	}
	st.printf("event: %s\ndata: %s\n\n", combine.EventLLMProgress, b)
}

func (st *sseStream) flush() {
	if st.err == nil {
		st.err = st.rc.Flush()
	}
}

// wait blocks until the log may hold new events (a wake-up or the poll
// tick), writing keepalive comments while idle. It returns false when the
// stream must end: the client left, the server is shutting down, or a
// write failed.
func (st *sseStream) wait(r *http.Request, shutdown <-chan struct{}, wake <-chan struct{}, progress <-chan combine.Progress,
	poll <-chan time.Time, keep *time.Timer, keepEvery time.Duration) bool {
	for {
		select {
		case <-r.Context().Done():
			return false
		case <-shutdown:
			return false
		case <-wake:
			return true
		case <-poll:
			return true
		case p := <-progress:
			st.progress(p)
			st.flush()
			if st.err != nil {
				return false
			}
		case <-keep.C:
			st.printf(": keepalive\n\n")
			st.flush()
			if st.err != nil {
				return false
			}
			keep.Reset(keepEvery)
		}
	}
}
