package identity_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/internal/testlog"
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
	rand  *recordingRand
	logs  *logBuffer
}

// recordingRand is crypto/rand that remembers every 32-byte read: those
// are exactly the secrets (sessions, links, tokens); ids use fewer bytes.
type recordingRand struct {
	mu      sync.Mutex
	secrets [][]byte
}

func (r *recordingRand) Read(p []byte) (int, error) {
	n, err := rand.Read(p)
	if len(p) == 32 {
		r.mu.Lock()
		r.secrets = append(r.secrets, bytes.Clone(p))
		r.mu.Unlock()
	}
	return n, err
}

// encodings returns every text form a 32-byte secret takes: URL-safe
// base64 (sessions, links) and the base62 body of a token.
func encodings(b []byte) []string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	n := new(big.Int).SetBytes(b)
	body := make([]byte, 43)
	mod := new(big.Int)
	for i := 42; i >= 0; i-- {
		n.DivMod(n, big.NewInt(62), mod)
		body[i] = base62[mod.Int64()]
	}
	return []string{base64.RawURLEncoding.EncodeToString(b), string(body)}
}

type logBuffer = testlog.Buffer

// checkNoSecrets runs after each test: no secret the test issued may be
// in its database or its logs, and the issued ones must really have been
// recorded (the hash of a session or token is stored).
func (e *env) checkNoSecrets(t testing.TB) {
	t.Helper()
	stored := testdb.Dump(t, e.db)
	logs := e.logs.String()
	e.rand.mu.Lock()
	defer e.rand.mu.Unlock()
	for _, sec := range e.rand.secrets {
		for _, enc := range encodings(sec) {
			if strings.Contains(stored, enc) || strings.Contains(logs, enc) {
				t.Errorf("a secret (%s…) is in the database or the logs", enc[:4])
			}
		}
	}
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
	logs := &logBuffer{}
	svc := identity.New(db, opts, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	svc.Now = c.Now
	e := &env{svc: svc, db: db, clock: c, ctx: context.Background(), rand: &recordingRand{}, logs: logs}
	svc.Rand = e.rand
	t.Cleanup(func() { e.checkNoSecrets(t) })
	return e
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
