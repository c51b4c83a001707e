package identity

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/thecombine/combine"
)

// Failures are aggregated per client so that nobody can flood the
// append-only audit log (or the log) by repeating a refused request: the
// first failure of a kind — same action, actor, target, reason and client
// address — is recorded at once; repeats within the window are counted,
// and when the window ends one entry records how many there were (details
// "repeated", "first_at", "last_at"), with one log line likewise. While
// the repeats go on, each further window adds one such entry; a quiet
// window ends the aggregation.

// DefaultAuditWindow is the aggregation window of repeated failures.
const DefaultAuditWindow = time.Minute

// maxAggregates bounds the kinds of failure tracked at once; beyond it,
// failures are aggregated without the client address (one entry for all).
const maxAggregates = 10_000

type aggKey struct {
	action, actorID, actor, target, reason, client string
}

type aggState struct {
	suppressed  int
	first, last time.Time
	entry       combine.AuditEntry
	timer       *time.Timer
}

type aggregator struct {
	mu    sync.Mutex
	keys  map[aggKey]*aggState
	total int // entries written, for tests
}

// RecordFailure implements combine.AuditService: it appends a failure
// entry, aggregating repeats from one client within the window. Errors
// are logged, never returned: a failed audit must not change the answer.
func (s *Service) RecordFailure(ctx context.Context, e combine.AuditEntry) {
	e.Outcome = combine.OutcomeFailure
	s.fillAudit(ctx, &e)
	k := aggKey{action: e.Action, actorID: e.ActorID, actor: e.Actor, target: e.Target, reason: e.Reason, client: e.ClientAddr}
	a := &s.agg
	a.mu.Lock()
	if a.keys == nil {
		a.keys = map[aggKey]*aggState{}
	}
	if _, ok := a.keys[k]; !ok && len(a.keys) >= maxAggregates {
		k.client = "*"
	}
	if st, ok := a.keys[k]; ok {
		st.suppressed++
		st.last = e.At
		st.entry = e
		a.mu.Unlock()
		return
	}
	st := &aggState{first: e.At, last: e.At, entry: e}
	a.keys[k] = st
	st.timer = time.AfterFunc(s.window(), func() { s.flushAggregate(k) })
	a.mu.Unlock()
	s.writeFailure(ctx, e, 0, time.Time{}, time.Time{})
}

func (s *Service) window() time.Duration {
	if s.opts.AuditWindow > 0 {
		return s.opts.AuditWindow
	}
	return DefaultAuditWindow
}

// flushAggregate ends a window of k: it records the repeats, if any, and
// keeps aggregating for another window while they go on.
func (s *Service) flushAggregate(k aggKey) {
	a := &s.agg
	a.mu.Lock()
	st, ok := a.keys[k]
	if !ok {
		a.mu.Unlock()
		return
	}
	n, first, last, e := st.suppressed, st.first, st.last, st.entry
	if n == 0 {
		delete(a.keys, k)
		a.mu.Unlock()
		return
	}
	st.suppressed, st.first = 0, last
	st.timer = time.AfterFunc(s.window(), func() { s.flushAggregate(k) })
	a.mu.Unlock()
	s.writeFailure(context.Background(), e, n, first, last)
}

// FlushAudit records every pending count of repeated failures now (at
// shutdown, and in tests).
func (s *Service) FlushAudit() {
	a := &s.agg
	a.mu.Lock()
	keys := make([]aggKey, 0, len(a.keys))
	for k, st := range a.keys {
		st.timer.Stop()
		keys = append(keys, k)
	}
	a.mu.Unlock()
	for _, k := range keys {
		s.flushAggregate(k)
		a.mu.Lock()
		if st, ok := a.keys[k]; ok {
			st.timer.Stop()
			delete(a.keys, k)
		}
		a.mu.Unlock()
	}
}

// writeFailure appends e (with the count of repeats when n > 0) and logs
// one WARN line for it.
func (s *Service) writeFailure(ctx context.Context, e combine.AuditEntry, n int, first, last time.Time) {
	attrs := []any{slog.String("action", e.Action), slog.String("reason", e.Reason), slog.String("target", e.Target),
		slog.String("actor", e.Actor), slog.String("client", e.ClientAddr)}
	if n > 0 {
		e.ID, e.At, e.RequestID = "", time.Time{}, ""
		e.Details = maps.Clone(e.Details)
		if e.Details == nil {
			e.Details = map[string]any{}
		}
		e.Details["repeated"] = n
		e.Details["first_at"] = first.UTC().Format(time.RFC3339Nano)
		e.Details["last_at"] = last.UTC().Format(time.RFC3339Nano)
		attrs = append(attrs, slog.Int("repeated", n), slog.Duration("window", s.window()))
		s.logger.WarnContext(ctx, "repeated failures aggregated", attrs...)
	} else {
		attrs = append(attrs, slog.String("request_id", e.RequestID))
		s.logger.WarnContext(ctx, "refused: "+e.Action, attrs...)
	}
	if err := s.RecordAudit(context.WithoutCancel(ctx), e); err != nil {
		s.logger.WarnContext(ctx, "audit failure entry", "action", e.Action, "error", err)
	}
	s.agg.mu.Lock()
	s.agg.total++
	s.agg.mu.Unlock()
}
