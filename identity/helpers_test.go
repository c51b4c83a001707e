package identity_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// clock is a controllable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	svc   *identity.Service
	db    *sqldb.DB
	clock *clock
	ctx   context.Context
}

func testOptions() identity.Options {
	return identity.Options{
		SessionExpire:        24 * time.Hour,
		SessionIdle:          2 * time.Hour,
		DefaultRole:          combine.RoleViewer,
		AdminEmails:          []string{"boss@example.com"},
		PATDefaultExpiryDays: 90,
		PATMaxExpiryDays:     365,
		PublicURL:            "http://localhost:8000",
	}
}

func newEnv(t testing.TB, mod ...func(*identity.Options)) *env {
	t.Helper()
	opts := testOptions()
	for _, m := range mod {
		m(&opts)
	}
	db := testdb.Open(t)
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc := identity.New(db, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc.Now = c.Now
	return &env{svc: svc, db: db, clock: c, ctx: context.Background()}
}

func ident(sub, email string) combine.ExternalIdentity {
	return combine.ExternalIdentity{Provider: "oidc", Issuer: "https://idp.example.com", Subject: sub,
		Email: email, EmailVerified: true, Name: "Person " + sub}
}

func mustCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := combine.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func (e *env) mustUser(t testing.TB, email string, roles ...string) *combine.User {
	t.Helper()
	u, err := e.svc.CreateUser(e.ctx, combine.UserCreate{Email: email, Name: email, Roles: roles})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// audit returns the entries with action, newest first.
func (e *env) audit(t testing.TB, action string) []*combine.AuditEntry {
	t.Helper()
	es, _, err := e.svc.FindAudit(e.ctx, combine.AuditFilter{Action: action})
	if err != nil {
		t.Fatalf("find audit: %v", err)
	}
	return es
}

func (e *env) authSession(secret string) (*combine.AuthContext, error) {
	return e.svc.Authenticate(e.ctx, combine.Credentials{Session: secret, ClientAddr: "192.0.2.1"})
}

func (e *env) authToken(tok string) (*combine.AuthContext, error) {
	return e.svc.Authenticate(e.ctx, combine.Credentials{Bearer: tok, HasAuthorization: true, ClientAddr: "192.0.2.1"})
}
