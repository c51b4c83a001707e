package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// cacheInstance is one server process of a deployment: its own pool on
// the shared database, identity service, credential cache fed as
// cmd/combine feeds it, health checker and HTTP listener.
type cacheInstance struct {
	svc      *identity.Service
	db       *sqldb.DB
	url      string
	notifier *events.Notifier
	logger   *slog.Logger
}

func newCacheInstances(t *testing.T, n int) []*cacheInstance {
	t.Helper()
	url := testdb.URL(t)
	var out []*cacheInstance
	for i := range n {
		db, err := sqldb.Open(context.Background(), url, 5)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if i == 0 {
			if _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		s := servertest.New(t, servertest.Options{DB: db, LogLevel: "ERROR"})
		ts := s.Start(t)
		out = append(out, &cacheInstance{svc: s.IdentitySvc, db: db, url: ts.URL, notifier: s.Notifier, logger: s.Logger})
	}
	return out
}

// call sends one request with a bearer token or a session cookie and
// returns the status and decoded body.
func (in *cacheInstance) call(t *testing.T, method, path, bearer, cookie, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, in.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "combine_session", Value: cookie})
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

// status returns what a credential gets from GET path.
func (in *cacheInstance) status(t *testing.T, path, bearer, cookie string) int {
	t.Helper()
	code, _ := in.call(t, "GET", path, bearer, cookie, "")
	return code
}

// warm uses the credential on the instance until a request is served
// from its cache (a read that overlaps any eviction is not stored, so the
// first attempts may all read).
func (in *cacheInstance) warm(t *testing.T, path, bearer, cookie string) {
	t.Helper()
	for i := 0; ; i++ {
		hits := in.svc.Cache().Stats().Hits
		if code := in.status(t, path, bearer, cookie); code != 200 {
			t.Fatalf("GET %s before the change: %d", path, code)
		}
		if in.svc.Cache().Stats().Hits > hits {
			return
		}
		if i == 100 {
			t.Fatal("the credential is never served from the cache")
		}
		time.Sleep(time.Millisecond)
	}
}

// within polls GET path with the credential on in until it answers want,
// failing after bound, and returns how long that took.
func (in *cacheInstance) within(t *testing.T, bound time.Duration, want int, path, bearer, cookie string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code := in.status(t, path, bearer, cookie)
		if code == want {
			return time.Since(start)
		}
		if time.Since(start) > bound {
			t.Fatalf("GET %s: still %d after %s, want %d", path, code, bound, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func (in *cacheInstance) cacheHealth(t *testing.T) string {
	t.Helper()
	_, body := in.call(t, "GET", "/health", "", "", "")
	comps, _ := body["components"].(map[string]any)
	c, _ := comps["cache"].(map[string]any)
	s, _ := c["status"].(string)
	return s
}

// TestRevocationAcrossInstances plays two servers behind a load balancer
// on one database, through their HTTP APIs: what an admin or the user
// does on one — revoke a token, log out, revoke a session, demote, disable
// — is refused on that one at once and on the other within a second
// (the log shows how long it took), although both had the credential
// cached.
func TestRevocationAcrossInstances(t *testing.T) {
	t.Parallel()
	ins := newCacheInstances(t, 2)
	a, b := ins[0], ins[1]
	ctx := context.Background()
	mk := func(email string, roles ...string) *combine.User {
		u, err := a.svc.CreateUser(ctx, combine.UserCreate{Email: email, Name: email, Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	admin := mk("admin@example.com", "admin")
	_, adminTok := token(t, a.svc, admin.ID)
	session := func(u *combine.User) (string, string) {
		link, _, err := a.svc.CreateLoginLink(ctx, u.Email)
		if err != nil {
			t.Fatal(err)
		}
		_, s, secret, err := a.svc.LoginWithLink(ctx, link, combine.LoginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return s.ID, secret
	}
	report := func(what string, took time.Duration) {
		t.Logf("%s on instance a: refused by instance b after %s", what, took.Round(10*time.Microsecond))
	}

	t.Run("revoke token", func(t *testing.T) {
		u := mk("tok@example.com", "operator")
		id, tok := token(t, a.svc, u.ID)
		a.warm(t, "/api/v1/me", tok, "")
		b.warm(t, "/api/v1/me", tok, "")
		revoke(t, a, id, tok)
		if code := a.status(t, "/api/v1/me", tok, ""); code != 401 {
			t.Fatalf("revoked token on the same instance: %d, want 401 at once", code)
		}
		report("a token revocation", b.within(t, time.Second, 401, "/api/v1/me", tok, ""))
	})
	t.Run("logout", func(t *testing.T) {
		u := mk("out@example.com", "operator")
		_, cookie := session(u)
		a.warm(t, "/api/v1/me", "", cookie)
		b.warm(t, "/api/v1/me", "", cookie)
		if code, _ := a.call(t, "POST", "/auth/logout", "", cookie, ""); code >= 400 {
			t.Fatalf("logout: %d", code)
		}
		if code := a.status(t, "/api/v1/me", "", cookie); code != 401 {
			t.Fatalf("logged-out session on the same instance: %d, want 401 at once", code)
		}
		report("a logout", b.within(t, time.Second, 401, "/api/v1/me", "", cookie))
	})
	t.Run("revoke session", func(t *testing.T) {
		u := mk("ses@example.com", "operator")
		id, cookie := session(u)
		_, other := session(u)
		a.warm(t, "/api/v1/me", "", cookie)
		b.warm(t, "/api/v1/me", "", cookie)
		if code, _ := a.call(t, "DELETE", "/api/v1/sessions/"+id, "", other, ""); code != 204 {
			t.Fatalf("revoke session: %d", code)
		}
		if code := a.status(t, "/api/v1/me", "", cookie); code != 401 {
			t.Fatalf("revoked session on the same instance: %d, want 401 at once", code)
		}
		report("a session revocation", b.within(t, time.Second, 401, "/api/v1/me", "", cookie))
	})
	t.Run("demote", func(t *testing.T) {
		u := mk("second-admin@example.com", "admin")
		_, tok := token(t, a.svc, u.ID)
		_, cookie := session(u)
		for _, in := range ins {
			in.warm(t, "/api/v1/users", tok, "")
			in.warm(t, "/api/v1/users", "", cookie)
		}
		if code, _ := a.call(t, "PATCH", "/api/v1/users/"+u.ID, adminTok, "", `{"roles":["viewer"]}`); code != 200 {
			t.Fatalf("demote: %d", code)
		}
		if a.status(t, "/api/v1/users", tok, "") != 403 || a.status(t, "/api/v1/users", "", cookie) != 403 {
			t.Fatal("demoted on this instance, but the next request still had user:manage")
		}
		report("a demotion (token)", b.within(t, time.Second, 403, "/api/v1/users", tok, ""))
		report("a demotion (session)", b.within(t, time.Second, 403, "/api/v1/users", "", cookie))
		_, me := b.call(t, "GET", "/api/v1/me", tok, "", "")
		if roles, _ := me["user"].(map[string]any)["roles"].([]any); !slices.Equal(roles, []any{"viewer"}) {
			t.Fatalf("GET /api/v1/me on b after the demotion: roles %v", roles)
		}
	})
	t.Run("disable", func(t *testing.T) {
		u := mk("off@example.com", "operator")
		_, tok := token(t, a.svc, u.ID)
		_, cookie := session(u)
		for _, in := range ins {
			in.warm(t, "/api/v1/me", tok, "")
			in.warm(t, "/api/v1/me", "", cookie)
		}
		if code, _ := a.call(t, "PATCH", "/api/v1/users/"+u.ID, adminTok, "", `{"disabled":true}`); code != 200 {
			t.Fatalf("disable: %d", code)
		}
		if a.status(t, "/api/v1/me", tok, "") != 401 || a.status(t, "/api/v1/me", "", cookie) != 401 {
			t.Fatal("disabled on this instance, but the next request was served")
		}
		report("disabling the user (token)", b.within(t, time.Second, 401, "/api/v1/me", tok, ""))
		report("disabling the user (session)", b.within(t, time.Second, 401, "/api/v1/me", "", cookie))
	})
}

// TestRevocationAcrossInstancesFeedCut: with instance b's invalidation
// feed cut — its LISTEN connection's backend terminated on PostgreSQL,
// its audit-log reader stopped on SQLite — b bypasses its cache (health
// shows the cache degraded), so a revocation it was not told about is
// refused at once; when the feed is restored the cache is healthy again,
// the missed revocation stays in force and new ones arrive within the
// bound.
func TestRevocationAcrossInstancesFeedCut(t *testing.T) {
	t.Parallel()
	ins := newCacheInstances(t, 2)
	a, b := ins[0], ins[1]
	ctx := context.Background()
	u, err := a.svc.CreateUser(ctx, combine.UserCreate{Email: "op@example.com", Roles: []string{"operator"}})
	if err != nil {
		t.Fatal(err)
	}
	missedID, missed := token(t, a.svc, u.ID)
	laterID, later := token(t, a.svc, u.ID)
	b.warm(t, "/api/v1/me", missed, "")
	if s := b.cacheHealth(t); s != "healthy" {
		t.Fatalf("cache health before the cut: %q", s)
	}

	restore := func() {}
	if b.db.Dialect == sqldb.Postgres {
		var killed int
		if err := a.db.R.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`,
			events.ApplicationName).Scan(&killed); err != nil || killed != 2 {
			t.Fatalf("terminating the LISTEN connections: %d, %v", killed, err)
		}
	} else {
		if err := b.svc.Cache().Stop(ctx); err != nil {
			t.Fatal(err)
		}
		restore = func() {
			if err := b.svc.Cache().Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for deadline := time.Now().Add(10 * time.Second); b.cacheHealth(t) != "degraded"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cache's health did not turn degraded while its feed was cut")
		}
	}
	revoke(t, a, missedID, missed)
	if code := b.status(t, "/api/v1/me", missed, ""); code != 401 {
		t.Fatalf("revoked while b's feed was cut: b answered %d, want 401 at once", code)
	}

	restore()
	for deadline := time.Now().Add(10 * time.Second); b.cacheHealth(t) != "healthy"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cache's health did not recover with its feed")
		}
	}
	if code := b.status(t, "/api/v1/me", missed, ""); code != 401 {
		t.Fatalf("after the feed was restored, the token revoked meanwhile got %d", code)
	}
	b.warm(t, "/api/v1/me", later, "")
	revoke(t, a, laterID, later)
	took := b.within(t, time.Second, 401, "/api/v1/me", later, "")
	t.Logf("after the feed was restored, a revocation on a was refused by b after %s", took.Round(10*time.Microsecond))
}

// token issues a token for userID and returns its id and text.
func token(t *testing.T, svc *identity.Service, userID string) (string, string) {
	t.Helper()
	tok, text, err := svc.CreateToken(context.Background(), userID, combine.TokenCreate{Name: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID, text
}

// revoke revokes the token id through in's API, as its owner (tok).
func revoke(t *testing.T, in *cacheInstance, id, tok string) {
	t.Helper()
	if code, _ := in.call(t, "DELETE", "/api/v1/tokens/"+id, tok, "", ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
}
