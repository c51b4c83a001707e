package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/internal/sse"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// streamServer is a served instance for the stream tests.
func streamServer(t *testing.T, db *sqldb.DB, env map[string]string) (*servertest.Server, string) {
	t.Helper()
	s := servertest.New(t, servertest.Options{DB: db, Env: env, LogLevel: "ERROR", EventPoll: 50 * time.Millisecond})
	return s, s.Start(t).URL
}

// openAs opens the event stream of id with a bearer token or a session
// cookie and returns it with its status.
func openAs(t *testing.T, base, id string, bearer, cookie string) (*stream, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/executions/"+id+"/events", nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "combine_session", Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{resp: resp, r: sse.NewReader(resp.Body)}, resp.StatusCode
}

// endsWithStreamError reads until the stream ends and checks that its last
// message is a stream_error with code.
func endsWithStreamError(t *testing.T, s *stream, within time.Duration, code string) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last *sse.Message
	for {
		m := s.read(t, time.Until(deadline)+time.Millisecond)
		if m == nil {
			break
		}
		if m.Comment == "" {
			last = m
		}
	}
	if last == nil || last.Event != "stream_error" {
		t.Fatalf("the stream ended with %+v, want a stream_error event", last)
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(last.Data), &body); err != nil || body.Error.Code != code {
		t.Fatalf("stream_error %q, want code %s", last.Data, code)
	}
}

// TestStreamEndsWhenTheCredentialDoes (finding 1): an open stream ends
// when its token or session is revoked, its user disabled or demoted —
// at once through the credential watcher of the instance that made the
// change (the periodic re-check is set to a minute here).
func TestStreamEndsWhenTheCredentialDoes(t *testing.T) {
	t.Parallel()
	s, base := streamServer(t, nil, map[string]string{"EVENTS_REAUTH_INTERVAL": "1m"})
	ctx := context.Background()
	adminUser := s.User(t, "admin@example.com", "admin")
	asAdmin := combine.NewContextWithAuth(ctx, &combine.AuthContext{UserID: adminUser.ID, Email: adminUser.Email,
		Permissions: combine.PermissionsForRoles([]string{"admin"})})
	cases := []struct {
		name   string
		cookie bool
		change func(t *testing.T, u *combine.User, tokenID, session string)
		code   string
	}{
		{"token revoked", false, func(t *testing.T, u *combine.User, tokenID, _ string) {
			if err := s.IdentitySvc.RevokeToken(asAdmin, tokenID); err != nil {
				t.Fatal(err)
			}
		}, combine.EUNAUTHORIZED},
		{"user disabled", false, func(t *testing.T, u *combine.User, _, _ string) {
			yes := true
			if _, err := s.IdentitySvc.UpdateUser(asAdmin, u.ID, combine.UserUpdate{Disabled: &yes}); err != nil {
				t.Fatal(err)
			}
		}, combine.EUNAUTHORIZED},
		{"user demoted", false, func(t *testing.T, u *combine.User, _, _ string) {
			roles := []string{"pm"} // a reviewer role alone: no execution:read
			if _, err := s.IdentitySvc.UpdateUser(asAdmin, u.ID, combine.UserUpdate{Roles: &roles}); err != nil {
				t.Fatal(err)
			}
		}, combine.EFORBIDDEN},
		{"sessions revoked", true, func(t *testing.T, u *combine.User, _, _ string) {
			if _, err := s.IdentitySvc.RevokeAllSessions(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
		}, combine.EUNAUTHORIZED},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := s.User(t, fmt.Sprintf("streamer%d@example.com", i), "viewer")
			tok, text, err := s.IdentitySvc.CreateToken(ctx, u.ID, combine.TokenCreate{Name: "stream"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			id := newExecution(t, s.DB)
			appendEvents(t, s.DB, id, started)
			var st *stream
			var status int
			session := ""
			if tc.cookie {
				session = s.Session(t, u)
				st, status = openAs(t, base, id, "", session)
			} else {
				st, status = openAs(t, base, id, text, "")
			}
			if status != 200 {
				t.Fatalf("open: %d", status)
			}
			st.next(t, 5*time.Second)
			tc.change(t, u, tok.ID, session)
			endsWithStreamError(t, st, 3*time.Second, tc.code)
			// EventSource reconnects, and is refused with a status.
			bearer := text
			if tc.cookie {
				bearer = ""
			}
			if _, status := openAs(t, base, id, bearer, session); status != 401 && status != 403 {
				t.Fatalf("reconnect after %s: %d", tc.name, status)
			}
		})
	}
}

// TestStreamEndsWhenAnotherInstanceRevokes (finding 1): a revocation made
// by another instance (another process on the database) ends the stream
// at once through the credential cache's invalidation feed (NOTIFY on
// PostgreSQL, the audit log on SQLite), long before the periodic re-check.
func TestStreamEndsWhenAnotherInstanceRevokes(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t)
	s, base := streamServer(t, db, map[string]string{"EVENTS_REAUTH_INTERVAL": "1m"})
	other := identity.New(db, identity.OptionsFromConfig(s.Cfg), s.Logger) // the other instance
	u := s.User(t, "viewer@example.com", "viewer")
	tok, text, err := s.IdentitySvc.CreateToken(context.Background(), u.ID, combine.TokenCreate{Name: "stream"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := newExecution(t, db)
	appendEvents(t, db, id, started)
	st, status := openAs(t, base, id, text, "")
	if status != 200 {
		t.Fatalf("open: %d", status)
	}
	st.next(t, 5*time.Second)
	asOwner := combine.NewContextWithAuth(context.Background(), &combine.AuthContext{UserID: u.ID, Permissions: combine.PermissionsForRoles(u.Roles)})
	revoked := time.Now()
	if err := other.RevokeToken(asOwner, tok.ID); err != nil {
		t.Fatal(err)
	}
	endsWithStreamError(t, st, 5*time.Second, combine.EUNAUTHORIZED)
	d := time.Since(revoked)
	if d > 2*time.Second {
		t.Errorf("the stream outlived another instance's revocation by %s (the re-check is 1m away)", d)
	}
	t.Logf("the stream ended %s after another instance revoked its token", d.Round(time.Millisecond))
}

// TestStreamCaps (finding 5): a user's streams beyond
// EVENTS_MAX_STREAMS_PER_USER, and the instance's beyond
// EVENTS_MAX_STREAMS, are 429 with Retry-After; a closed stream frees
// its slot.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	s, base := streamServer(t, nil, map[string]string{"EVENTS_MAX_STREAMS": "3", "EVENTS_MAX_STREAMS_PER_USER": "2"})
	a := s.Token(t, s.User(t, "a@example.com", "viewer"))
	b := s.Token(t, s.User(t, "b@example.com", "viewer"))
	id := newExecution(t, s.DB)
	appendEvents(t, s.DB, id, started)
	open := func(tok string, want int) *stream {
		t.Helper()
		st, status := openAs(t, base, id, tok, "")
		if status != want {
			t.Fatalf("stream: %d, want %d", status, want)
		}
		if want == 429 {
			if st.resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			st.resp.Body.Close()
			return nil
		}
		st.next(t, 5*time.Second)
		return st
	}
	a1 := open(a, 200)
	open(a, 200)
	open(a, 429) // the user's cap
	open(b, 200)
	open(b, 429) // the instance's cap
	a1.resp.Body.Close()
	waitFor(t, 5*time.Second, "the closed stream's slot", func() bool {
		st, status := openAs(t, base, id, b, "")
		st.resp.Body.Close()
		return status == 200
	})
	if body := readBody(t, mustResp(t, base+"/metrics")); !strings.Contains(body, `combine_event_streams_refused_total{cap="user"} 1`) ||
		!strings.Contains(body, `combine_event_streams_refused_total{cap="instance"}`) {
		t.Errorf("refusals not counted:\n%s", body)
	}
}

func mustResp(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestStreamSlowReaderEnds (finding 5): a client that stops reading ends
// its stream at the write deadline instead of holding it for ever.
func TestStreamSlowReaderEnds(t *testing.T) {
	t.Parallel()
	s := servertest.New(t, servertest.Options{Env: map[string]string{"EVENTS_WRITE_TIMEOUT": "300ms"}, LogLevel: "ERROR", EventPoll: 50 * time.Millisecond})
	// Small socket buffers on both sides, so that a little data fills them.
	ts := httptest.NewUnstartedServer(s.Handler(t))
	ts.Listener = smallBuffers{ts.Listener}
	ts.Start()
	t.Cleanup(ts.Close)
	base := ts.URL
	tok := s.Token(t, s.User(t, "v@example.com", "viewer"))
	id := newExecution(t, s.DB)
	// Many times what the buffers of both sides hold.
	appendBig(t, s.DB, id, 40, strings.Repeat("x", 50_000))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(conn, "GET /api/v1/executions/%s/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", id, tok)
	waitFor(t, 5*time.Second, "the stream to open", func() bool { return s.Notifier.Subscribers() == 1 })
	// The client reads nothing; the server must give up within seconds.
	waitFor(t, 10*time.Second, "the stalled stream to end", func() bool { return s.Notifier.Subscribers() == 0 })
	if body := readBody(t, mustResp(t, base+"/metrics")); !strings.Contains(body, `combine_event_streams_ended_total{reason="slow_reader"} 1`) {
		t.Errorf("the stalled stream did not end as a slow reader:\n%s", body)
	}
}

// smallBuffers gives every accepted connection a small send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// appendBig appends n events with a large data field.
func appendBig(t *testing.T, db *sqldb.DB, id string, n int, data string) {
	t.Helper()
	types := make([]string, n)
	for i := range types {
		types[i] = "step_started"
	}
	appendEventsData(t, db, id, `{"pad":"`+data+`"}`, types...)
}

// countingEvents counts the reads of the event log, in all and of one
// execution.
type countingEvents struct {
	combine.EventService
	of    string
	reads atomic.Int64
	ofID  atomic.Int64
}

func (c *countingEvents) ListEvents(ctx context.Context, id string, after int64, limit int) ([]*combine.Event, error) {
	c.reads.Add(1)
	if id == c.of {
		c.ofID.Add(1)
	}
	return c.EventService.ListEvents(ctx, id, after, limit)
}

// TestStreamsShareOnePoller (finding 5): idle streams do not read the
// database on their own — the process's poller reads the log heads and
// wakes only the streams whose execution moved, each of which then reads
// its log once.
func TestStreamsShareOnePoller(t *testing.T) {
	t.Parallel()
	s := servertest.New(t, servertest.Options{LogLevel: "ERROR", EventPoll: 50 * time.Millisecond,
		Config: func(c *config.Config) { c.EventsMaxStreamsPerUser = 100 }})
	counter := &countingEvents{EventService: s.Server.Engine.Events}
	s.Server.Engine.Events = counter
	base := s.Start(t).URL
	tok := s.Token(t, s.User(t, "v@example.com", "viewer"))
	busy, idle := newExecution(t, s.DB), newExecution(t, s.DB)
	appendEvents(t, s.DB, busy, started)
	appendEvents(t, s.DB, idle, started)
	counter.of = idle
	const n = 20
	var streams []*stream
	for i := 0; i < n; i++ {
		id := idle
		if i%2 == 0 {
			id = busy
		}
		st, status := openAs(t, base, id, tok, "")
		if status != 200 {
			t.Fatalf("open %d: %d", i, status)
		}
		st.next(t, 5*time.Second)
		streams = append(streams, st)
	}
	time.Sleep(time.Second) // the first poll wakes every stream once
	before, idleReads := counter.reads.Load(), counter.ofID.Load()
	time.Sleep(time.Second) // 20 polls of the heads
	if d := counter.reads.Load() - before; d != 0 {
		t.Fatalf("idle streams read the log %d times in a second", d)
	}
	appendEvents(t, s.DB, busy, stepUp)
	for i := 0; i < n; i += 2 {
		if m := streams[i].next(t, 5*time.Second); m.Event != stepUp {
			t.Fatalf("stream %d got %+v", i, m)
		}
	}
	time.Sleep(300 * time.Millisecond)
	// Each stream of the busy execution reads once per wake-up: once for
	// the poller, and on PostgreSQL once more for the NOTIFY.
	if d := counter.reads.Load() - before; d < n/2 || d > n {
		t.Fatalf("one append: %d reads of the log, want one or two per stream of that execution (%d)", d, n/2)
	}
	if d := counter.ofID.Load() - idleReads; d != 0 {
		t.Fatalf("the streams of the idle execution read its log %d times", d)
	}
}
