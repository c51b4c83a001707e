package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/internal/testlog"
	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/sqldb"
)

// idSyncBuffer is a goroutine-safe log sink, read by the no-secrets test.
type idSyncBuffer = testlog.Buffer

// idHarness is a server wired with the real identity service on a fresh
// database, as cmd/combine wires it.
type idHarness struct {
	srv     *server.Server
	h       http.Handler
	svc     *identity.Service
	db      *sqldb.DB
	cfg     *config.Config
	logs    *idSyncBuffer
	users   map[string]*combine.User
	secrets []string // every credential handed out, for the leak check
}

// idCred is what a request presents.
type idCred struct {
	bearer string
	cookie string
}

func newIDHarness(t testing.TB, env map[string]string) *idHarness {
	t.Helper()
	s := servertest.New(t, servertest.Options{Env: env, LogLevel: "INFO"})
	srv, svc, db, cfg, logs := s.Server, s.IdentitySvc, s.DB, s.Cfg, s.Logs
	h := s.Handler(t)
	x := &idHarness{srv: srv, h: h, svc: svc, db: db, cfg: cfg, logs: logs, users: map[string]*combine.User{}}
	for _, u := range []struct {
		key   string
		roles []string
	}{{"viewer", []string{"viewer"}}, {"operator", []string{"operator", "pm"}}, {"admin", []string{"admin"}}, {"disabled", []string{"operator"}}} {
		created, _, err := svc.EnsureUser(context.Background(), combine.UserCreate{Email: u.key + "@example.com", Name: u.key, Roles: u.roles})
		if err != nil {
			t.Fatal(err)
		}
		x.users[u.key] = created
	}
	return x
}

// session signs user in through a one-time link and returns the cookie.
func (x *idHarness) session(t testing.TB, user string) string {
	t.Helper()
	ctx := context.Background()
	link, _, err := x.svc.CreateLoginLink(ctx, x.users[user].Email)
	if err != nil {
		t.Fatal(err)
	}
	_, _, secret, err := x.svc.LoginWithLink(ctx, link, combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	x.secrets = append(x.secrets, link, secret)
	return secret
}

// token issues a token for user, optionally scoped.
func (x *idHarness) token(t testing.TB, user string, scopes ...combine.Permission) (string, *combine.PersonalAccessToken) {
	t.Helper()
	tok, text, err := x.svc.CreateToken(context.Background(), x.users[user].ID, combine.TokenCreate{Name: "test", Scopes: scopes}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.secrets = append(x.secrets, text)
	return text, tok
}

// exec runs SQL directly, to put credentials into states (expired,
// disabled behind the service's back) as another instance might.
func (x *idHarness) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := x.db.W.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatal(err)
	}
}

func idPast() any { return sqldb.Time(time.Now().Add(-time.Hour)) }

// do sends one request through the full handler.
func (x *idHarness) do(method, path string, c idCred, body string, hdr ...string) *httptest.ResponseRecorder {
	return x.doWithin(10*time.Second, method, path, c, body, hdr...)
}

// doWithin is do with a deadline d on the request: an open event stream
// ends when it passes.
func (x *idHarness) doWithin(d time.Duration, method, path string, c idCred, body string, hdr ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	// Streams (SSE) end when the request context does.
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, method, path, rd)
	r.RemoteAddr = "192.0.2.10:4321"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.cookie != "" {
		r.AddCookie(&http.Cookie{Name: server.SessionCookieName(x.cfg.SessionSecureCookies), Value: c.cookie})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	x.h.ServeHTTP(w, r)
	return w
}

func idHashOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func idPastBy(d time.Duration) any { return sqldb.Time(time.Now().Add(-d)) }
