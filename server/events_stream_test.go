package server_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

const (
	started  = combine.EventExecutionStarted
	stepUp   = combine.EventStepStarted
	input    = combine.EventInputNeeded
	produced = combine.EventDocumentProduced
	done     = combine.EventExecutionCompleted
)

func TestEventStreamReplaysThenFollowsAndEnds(t *testing.T) {
	t.Parallel()
	in := newStreamInstance(t, testdb.Open(t), streamOpts{poll: 50 * time.Millisecond, keepalive: time.Minute})
	id := newExecution(t, in.db)
	appendEvents(t, in.db, id, started, stepUp, input)

	s := openStream(t, in.ts.URL, id, in.callers.bearer("viewer"), nil, "")
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", s.resp.StatusCode)
	}
	if ct := s.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := s.resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	for i, typ := range []string{started, stepUp, input} {
		checkEvent(t, s.next(t, 5*time.Second), int64(i+1), typ, id)
	}
	appendEvents(t, in.db, id, produced)
	checkEvent(t, s.next(t, 5*time.Second), 4, produced, id)
	appendEvents(t, in.db, id, stepUp, done)
	checkEvent(t, s.next(t, 5*time.Second), 5, stepUp, id)
	checkEvent(t, s.next(t, 5*time.Second), 6, done, id)
	if m := s.read(t, 5*time.Second); m != nil {
		t.Fatalf("stream goes on after the terminal event: %+v", m)
	}
}

func TestEventStreamResumes(t *testing.T) {
	t.Parallel()
	in := newStreamInstance(t, testdb.Open(t), streamOpts{poll: 50 * time.Millisecond, keepalive: time.Minute})
	id := newExecution(t, in.db)
	appendEvents(t, in.db, id, started, stepUp, input, produced)

	tests := []struct {
		name   string
		header map[string]string
		query  string
		first  int64
	}{
		{"Last-Event-ID", map[string]string{"Last-Event-ID": "2"}, "", 3},
		{"after parameter", nil, "?after=1", 2},
		{"header wins over the parameter", map[string]string{"Last-Event-ID": "3"}, "?after=1", 4},
		{"zero is the start", map[string]string{"Last-Event-ID": "0"}, "", 1},
	}
	types := []string{started, stepUp, input, produced}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStream(t, in.ts.URL, id, in.callers.bearer("viewer"), tt.header, tt.query)
			checkEvent(t, s.next(t, 5*time.Second), tt.first, types[tt.first-1], id)
		})
	}

	for _, bad := range []struct {
		header map[string]string
		query  string
	}{
		{map[string]string{"Last-Event-ID": "abc"}, ""},
		{map[string]string{"Last-Event-ID": "-1"}, ""},
		{nil, "?after=1.5"},
	} {
		s := openStream(t, in.ts.URL, id, in.callers.bearer("viewer"), bad.header, bad.query)
		decodeError(t, s.resp, http.StatusBadRequest, "invalid_request")
	}
}

func TestEventStreamOfAFinishedExecution(t *testing.T) {
	t.Parallel()
	in := newStreamInstance(t, testdb.Open(t), streamOpts{poll: 50 * time.Millisecond, keepalive: time.Minute})
	id := newExecution(t, in.db)
	appendEvents(t, in.db, id, started, combine.EventExecutionCancelled)

	// A reconnect after the last event: 204 tells EventSource to stop.
	s := openStream(t, in.ts.URL, id, in.callers.bearer("viewer"), map[string]string{"Last-Event-ID": "2"}, "")
	if s.resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204 for a finished, fully delivered log", s.resp.StatusCode)
	}
	// A reconnect before it replays the rest and ends.
	s = openStream(t, in.ts.URL, id, in.callers.bearer("viewer"), map[string]string{"Last-Event-ID": "1"}, "")
	m := s.next(t, 5*time.Second)
	if m.ID != "2" || m.Event != combine.EventExecutionCancelled {
		t.Fatalf("got %+v", m)
	}
	if m := s.read(t, 5*time.Second); m != nil {
		t.Fatalf("stream goes on after the terminal event: %+v", m)
	}
}

func TestEventStreamKeepalive(t *testing.T) {
	t.Parallel()
	in := newStreamInstance(t, testdb.Open(t), streamOpts{poll: 20 * time.Millisecond, keepalive: 100 * time.Millisecond})
	id := newExecution(t, in.db)
	s := openStream(t, in.ts.URL, id, in.callers.bearer("viewer"), nil, "")
	comments := 0
	for comments < 2 {
		m := s.read(t, 5*time.Second)
		if m == nil {
			t.Fatal("idle stream ended")
		}
		if m.Comment == "" {
			t.Fatalf("idle stream sent an event: %+v", m)
		}
		if m.Comment != "keepalive" {
			t.Fatalf("comment %q, want keepalive", m.Comment)
		}
		comments++
	}
	appendEvents(t, in.db, id, started)
	checkEvent(t, s.next(t, 5*time.Second), 1, started, id)
}

func TestEventStreamRefusals(t *testing.T) {
	t.Parallel()
	in := newStreamInstance(t, testdb.Open(t), streamOpts{})
	id := newExecution(t, in.db)
	tests := []struct {
		name, id, caller string
		status           int
		code             string
	}{
		{"unknown execution", "exe_nope", "viewer", http.StatusNotFound, "not_found"},
		{"no credentials", id, "", http.StatusUnauthorized, "unauthorized"},
		{"forged token", id, forgedCaller, http.StatusUnauthorized, "unauthorized"},
		{"revoked token", id, revokedCaller, http.StatusUnauthorized, "unauthorized"},
		{"no execution:read", id, "reviewer", http.StatusForbidden, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A stream wrongly opened ends with the context, not the test run.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", in.ts.URL+"/api/v1/executions/"+tt.id+"/events", nil)
			if b := in.callers.bearer(tt.caller); b != "" {
				req.Header.Set("Authorization", "Bearer "+b)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			e := decodeError(t, resp, tt.status, tt.code)
			if tt.status == http.StatusForbidden && e.Error.RequiredPermission != string(combine.PermExecutionRead) {
				t.Fatalf("required_permission %q", e.Error.RequiredPermission)
			}
			if tt.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}

func TestEventStreamEndsWhenTheClientLeaves(t *testing.T) {
	t.Parallel()
	in := newStreamInstance(t, testdb.Open(t), streamOpts{poll: 20 * time.Millisecond, keepalive: time.Minute})
	id := newExecution(t, in.db)
	appendEvents(t, in.db, id, started)
	s := openStream(t, in.ts.URL, id, in.callers.bearer("viewer"), nil, "")
	s.next(t, 5*time.Second)
	if n := in.notifier.Subscribers(); n != 1 {
		t.Fatalf("subscribers = %d, want 1", n)
	}
	s.resp.Body.Close()
	waitFor(t, 5*time.Second, "the stream to unsubscribe", func() bool { return in.notifier.Subscribers() == 0 })
}

func TestEventStreamEndsAtShutdown(t *testing.T) {
	t.Parallel()
	in := newStreamInstance(t, testdb.Open(t), streamOpts{poll: time.Minute, keepalive: time.Minute})
	id := newExecution(t, in.db)
	appendEvents(t, in.db, id, started)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- in.srv.Serve(ctx, ln) }()
	s := openStream(t, "http://"+ln.Addr().String(), id, in.callers.bearer("viewer"), nil, "")
	s.next(t, 5*time.Second)
	cancel()
	if m := s.read(t, 10*time.Second); m != nil {
		t.Fatalf("got %+v after shutdown began, want the end of the stream", m)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not finish draining with a stream open")
	}
}

// TestEventStreamAcrossInstances: an event written through one instance
// reaches a stream held by another instance on the same PostgreSQL
// database, promptly (the second instance polls only once a minute, so
// only the notification can deliver it in time).
func TestEventStreamAcrossInstances(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("cross-instance delivery needs PostgreSQL (set " + testdb.EnvPostgres + ")")
	}
	t.Parallel()
	url := testdb.URL(t)
	open := func() *sqldb.DB {
		db, err := sqldb.Open(context.Background(), url, 4)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a := open()
	if _, err := a.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	writer := newStreamInstance(t, a, streamOpts{})
	reader := newStreamInstance(t, open(), streamOpts{poll: time.Minute, keepalive: time.Minute})
	waitFor(t, 10*time.Second, "the reader to listen", func() bool {
		_, err := reader.notifier.Check(context.Background())
		return err == nil
	})
	id := newExecution(t, writer.db)
	s := openStream(t, reader.ts.URL, id, reader.callers.bearer("viewer"), nil, "")
	waitFor(t, 5*time.Second, "the stream to subscribe", func() bool { return reader.notifier.Subscribers() == 1 })
	for i, typ := range []string{started, stepUp, done} {
		appendEvents(t, writer.db, id, typ)
		checkEvent(t, s.next(t, 5*time.Second), int64(i+1), typ, id)
	}
	if m := s.read(t, 5*time.Second); m != nil {
		t.Fatalf("stream goes on after the terminal event: %+v", m)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEventStreamAcrossInstancesThroughTheEngine: the events are appended
// by one instance's engine (its runner working the steps, a submission,
// a cancel) and followed on a stream served by another instance, whose
// own runner is not running and which polls only once a minute.
func TestEventStreamAcrossInstancesThroughTheEngine(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("cross-instance delivery needs PostgreSQL (set " + testdb.EnvPostgres + ")")
	}
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	open := func() *sqldb.DB {
		db, err := sqldb.Open(ctx, url, 4)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a := open()
	if _, err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := engine.Migrate(ctx, a); err != nil {
		t.Fatal(err)
	}
	writer := newStreamInstance(t, a, streamOpts{})
	if err := writer.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.svc.Stop(context.Background()) })
	reader := newStreamInstance(t, open(), streamOpts{poll: time.Minute, keepalive: time.Minute})
	waitFor(t, 10*time.Second, "the reader to listen", func() bool { return reader.notifier.Listening() })

	admin := writer.callers.auth(t, "admin")
	e, err := writer.svc.StartExecution(admin, combine.StartExecution{WorkflowID: "software_product_development", ProjectID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	s := openStream(t, reader.ts.URL, e.ID, reader.callers.bearer("viewer"), nil, "")
	expect := func(types ...string) {
		t.Helper()
		for _, typ := range types {
			if m := s.next(t, 5*time.Second); m.Event != typ {
				t.Fatalf("got %s (id %s), want %s", m.Event, m.ID, typ)
			}
		}
	}
	expect(started, stepUp, input)

	doc, err := os.ReadFile("../workflow/testdata/documents/project_discovery.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.svc.SubmitDocument(admin, e.ID, combine.Submission{StepPath: "project_discovery", Attempt: 1, Title: "Discovery", Content: doc}); err != nil {
		t.Fatal(err)
	}
	expect(produced, combine.EventStepCompleted, stepUp, input)
	if _, err := writer.svc.CancelExecution(admin, e.ID); err != nil {
		t.Fatal(err)
	}
	expect(combine.EventExecutionCancelled)
	if m := s.read(t, 5*time.Second); m != nil {
		t.Fatalf("stream goes on after the terminal event: %+v", m)
	}
}
