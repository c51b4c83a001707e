package server_test

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/internal/sse"
	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/sqldb"
)

// streamInstance is one server instance on a database: its engine
// service (not running steps: the tests write the log themselves), its
// notifier, its HTTP server and its callers (real users' tokens).
type streamInstance struct {
	db       *sqldb.DB
	svc      *engine.Service
	notifier *events.Notifier
	ts       *httptest.Server
	srv      *server.Server
	callers  *testCallers
}

type streamOpts struct {
	poll, keepalive time.Duration
}

func newStreamInstance(t *testing.T, db *sqldb.DB, o streamOpts) *streamInstance {
	t.Helper()
	s := servertest.New(t, servertest.Options{DB: db, LogLevel: "ERROR", EventPoll: o.poll})
	s.Engine.EventPoll, s.Engine.EventKeepalive = o.poll, o.keepalive
	callers := useIdentity(t, s, "viewer", "admin", "reviewer", forgedCaller, revokedCaller)
	ts := s.Start(t)
	return &streamInstance{db: db, svc: s.EngineSvc, notifier: s.Notifier, ts: ts, srv: s.Server, callers: callers}
}

// newExecution stores an execution row with an empty log.
func newExecution(t *testing.T, db *sqldb.DB) string {
	t.Helper()
	id := fmt.Sprintf("exe_%d", time.Now().UnixNano())
	now := sqldb.Time(time.Now())
	_, err := db.W.ExecContext(context.Background(), `INSERT INTO executions (id, workflow_id, workflow_revision, project_id, inputs,
		status, created_by, created_at, updated_at) VALUES ($1, 'software_product_development', 'r1', 'prj_1', '{}', 'running', 'usr_1', $2, $2)`, id, now)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// appendEvents appends events to the log the way the engine does: in one
// transaction with the execution's last_seq and the NOTIFY.
func appendEvents(t *testing.T, db *sqldb.DB, id string, types ...string) {
	t.Helper()
	appendEventsData(t, db, id, "", types...)
}

// appendEventsData is appendEvents with the data of every event ("" for
// {"n": seq}).
func appendEventsData(t *testing.T, db *sqldb.DB, id, data string, types ...string) {
	t.Helper()
	ctx := context.Background()
	err := db.WithTx(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT last_seq FROM executions WHERE id = $1`, id).Scan(&last); err != nil {
			return err
		}
		for _, typ := range types {
			last++
			if _, err := tx.ExecContext(ctx, `INSERT INTO execution_events (execution_id, seq, type, data, created_at) VALUES ($1, $2, $3, $4, $5)`,
				id, last, typ, cmp.Or(data, fmt.Sprintf(`{"n":%d}`, last)), sqldb.Time(time.Now())); err != nil {
				return err
			}
		}
		status := "running"
		if combine.IsTerminalEvent(types[len(types)-1]) {
			status = strings.TrimPrefix(types[len(types)-1], "execution_")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE executions SET last_seq = $2, status = $3 WHERE id = $1`, id, last, status); err != nil {
			return err
		}
		return events.Notify(ctx, tx, db.Dialect, id)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stream is an open event stream.
type stream struct {
	resp *http.Response
	r    *sse.Reader
}

func openStream(t *testing.T, base, id, token string, header map[string]string, query string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/executions/"+id+"/events"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{resp: resp, r: sse.NewReader(resp.Body)}
}

// next returns the next event (skipping comments), failing after d.
func (s *stream) next(t *testing.T, d time.Duration) *sse.Message {
	t.Helper()
	for {
		m := s.read(t, d)
		if m == nil {
			t.Fatal("stream ended, want another event")
		}
		if m.Comment == "" {
			return m
		}
	}
}

// read returns the next message or comment, nil at the end of the stream.
func (s *stream) read(t *testing.T, d time.Duration) *sse.Message {
	t.Helper()
	type res struct {
		m   *sse.Message
		err error
	}
	ch := make(chan res, 1)
	go func() { m, err := s.r.Next(); ch <- res{m, err} }()
	select {
	case r := <-ch:
		if errors.Is(r.err, io.EOF) {
			return nil
		}
		if r.err != nil {
			t.Fatalf("reading stream: %v", r.err)
		}
		return r.m
	case <-time.After(d):
		s.resp.Body.Close()
		t.Fatalf("nothing on the stream within %s", d)
		return nil
	}
}

func checkEvent(t *testing.T, m *sse.Message, seq int64, typ, id string) {
	t.Helper()
	if m.ID != strconv.FormatInt(seq, 10) || m.Event != typ {
		t.Fatalf("got id=%q event=%q, want id=%d event=%s", m.ID, m.Event, seq, typ)
	}
	var ev combine.Event
	if err := json.Unmarshal([]byte(m.Data), &ev); err != nil {
		t.Fatalf("data is not an event: %q: %v", m.Data, err)
	}
	if ev.Seq != seq || ev.Type != typ || ev.ExecutionID != id || string(ev.Data) != fmt.Sprintf(`{"n":%d}`, seq) {
		t.Fatalf("data = %s, want seq %d type %s of %s", m.Data, seq, typ, id)
	}
}
