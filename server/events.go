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

// eventPoller is an EventWaker that reads the heads of the followed logs
// itself (one poller per process): its streams need no timer of their own.
type eventPoller interface {
	Polling() bool
}

// Defaults of the event stream; EngineDeps and the configuration may
// override them.
const (
	defaultEventPoll = 500 * time.Millisecond
	// listeningEventPoll is the fallback poll while notifications arrive.
	listeningEventPoll    = 5 * time.Second
	defaultEventKeepalive = 15 * time.Second
	// safetyEventPoll is how often a stream re-reads the log although the
	// process's poller wakes it: a wake-up lost to a bug costs at most this.
	safetyEventPoll = time.Minute
	// eventBatch is how many events one read of the log returns.
	eventBatch = 200
	// eventRetryMillis is the reconnection delay suggested to EventSource.
	eventRetryMillis          = 2000
	defaultStreamWriteTimeout = 10 * time.Second
	defaultMaxStreams         = 5000
	defaultMaxStreamsPerUser  = 50
)

// handleExecutionEvents streams an execution's event log as Server-Sent
// Events: each event with its sequence number as id, replay from
// Last-Event-ID (or ?after=), a keepalive comment while idle, and the end
// of the stream after the terminal event. New events are found by tailing
// the durable log when the EventWaker says it moved. The stream counts
// against the instance's and the user's caps, gives up on a reader that
// stops reading, and ends when its credential is revoked, expires, or
// loses execution:read (see streams.go).
func (s *Server) handleExecutionEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	after, err := resumePoint(r)
	if err != nil {
		return err
	}
	exe, err := s.Engine.Executions.FindExecution(ctx, id)
	if err != nil {
		return err
	}
	a := combine.AuthFromContext(ctx)
	if a == nil {
		return combine.Errorf(combine.EUNAUTHORIZED, "authentication required")
	}
	release, err := s.streams.acquire(a.UserID, orDefault(s.cfg.EventsMaxStreams, defaultMaxStreams),
		orDefault(s.cfg.EventsMaxStreamsPerUser, defaultMaxStreamsPerUser))
	if err != nil {
		return err
	}
	defer release()
	guard := s.guardStream(r)
	defer guard.stop()
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
	st := &sseStream{w: w, rc: http.NewResponseController(w), timeout: s.cfg.EventsWriteTimeout}
	if st.timeout <= 0 {
		st.timeout = defaultStreamWriteTimeout
	}
	st.deadline()
	w.WriteHeader(http.StatusOK)
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
	ended := func(reason string) error {
		s.streams.ended.WithLabelValues(reason).Inc()
		return nil
	}

	for {
		for i, ev := range batch {
			st.event(ev)
			after = ev.Seq
			if combine.IsTerminalEvent(ev.Type) && i == len(batch)-1 {
				// The end, unless the execution was retried after failing:
				// then the log goes on after execution_failed.
				more, err := s.Engine.Events.ListEvents(ctx, id, after, 1)
				if err != nil || len(more) == 0 {
					st.flush()
					return ended("complete")
				}
			}
		}
		if len(batch) > 0 {
			st.flush()
			keep.Reset(keepEvery)
		}
		if st.err != nil {
			return ended("slow_reader") // or gone: the write failed
		}
		if len(batch) < eventBatch {
			poll.Reset(s.eventPoll())
		wait:
			for {
				select {
				case <-ctx.Done():
					return ended("client_gone")
				case <-s.shutdown:
					return ended("shutdown")
				case <-wake:
					break wait
				case <-poll.C:
					break wait
				case p := <-progress:
					st.progress(p)
					st.flush()
					if st.err != nil {
						return ended("slow_reader")
					}
				case <-guard.changed:
					if err := guard.check(ctx); err != nil {
						st.fail(err)
						return ended("credential")
					}
				case <-guard.recheck.C:
					if err := guard.check(ctx); err != nil {
						st.fail(err)
						return ended("credential")
					}
				case <-keep.C:
					st.printf(": keepalive\n\n")
					st.flush()
					if st.err != nil {
						return ended("slow_reader")
					}
					keep.Reset(keepEvery)
				}
			}
		}
		batch, err = s.Engine.Events.ListEvents(ctx, id, after, eventBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.ErrorContext(ctx, "event stream: reading the log failed",
					slog.String("request_id", combine.RequestIDFromContext(ctx)),
					slog.String("execution_id", id), slog.String("error", err.Error()))
			}
			return ended("read_error") // headers are sent; the client reconnects with Last-Event-ID
		}
	}
}

func orDefault(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// eventPoll is how long a stream waits for a wake-up before it re-reads
// the log anyway: rarely while the process's poller wakes it; otherwise
// EngineDeps.EventPoll when set, long while the waker hears every
// instance's appends, short when it does not.
func (s *Server) eventPoll() time.Duration {
	if p, ok := s.Engine.EventWaker.(eventPoller); ok && p.Polling() {
		return safetyEventPoll
	}
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
// write error (a client that went away, or stopped reading past the write
// deadline).
type sseStream struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
	err     error
}

// deadline gives the next writes timeout to complete.
func (st *sseStream) deadline() {
	_ = st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
}

func (st *sseStream) printf(format string, args ...any) {
	if st.err == nil {
		st.deadline()
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

// fail ends the stream with an event naming why: stream_error, whose data
// is the API's error body ({"error": {"code", "message"}}). A client that
// reconnects then gets the same refusal as a status.
func (st *sseStream) fail(err error) {
	body := errorBody{Error: errorDetail{Code: combine.ErrorCode(err), Message: combine.ErrorMessage(err)}}
	var e *combine.Error
	if errors.As(err, &e) {
		body.Error.RequiredPermission = e.Permission
	}
	b, _ := json.Marshal(body)
	st.printf("event: stream_error\ndata: %s\n\n", b)
	st.flush()
}

func (st *sseStream) flush() {
	if st.err == nil {
		st.deadline()
		st.err = st.rc.Flush()
	}
}
