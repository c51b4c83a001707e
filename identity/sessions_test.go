package identity_test

import (
	"testing"
	"time"

	"github.com/thecombine/combine"
)

func TestSessionLifetimes(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // 24 h absolute, 2 h idle
	login := func() (string, *combine.Session) {
		t.Helper()
		_, s, secret, err := e.svc.LoginExternal(e.ctx, ident("s", "s@example.com"), combine.LoginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return secret, s
	}
	// Idle timeout.
	idle, _ := login()
	e.clock.Advance(2*time.Hour - time.Second)
	if _, err := e.authSession(idle); err != nil {
		t.Fatalf("within idle window: %v", err)
	}
	e.clock.Advance(2*time.Hour - time.Second) // activity above reset the idle clock
	if _, err := e.authSession(idle); err != nil {
		t.Fatalf("activity should extend the idle window: %v", err)
	}
	e.clock.Advance(2 * time.Hour)
	_, err := e.authSession(idle)
	mustCode(t, err, combine.EUNAUTHORIZED)

	// Absolute lifetime despite activity.
	abs, _ := login()
	for h := 1; h < 24; h++ {
		e.clock.Advance(time.Hour)
		if _, err := e.authSession(abs); err != nil {
			t.Fatalf("active session refused after %d h: %v", h, err)
		}
	}
	e.clock.Advance(time.Hour)
	_, err = e.authSession(abs)
	mustCode(t, err, combine.EUNAUTHORIZED)
}

func TestSessionTouchThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret, s := func() (string, *combine.Session) {
		_, s, secret, err := e.svc.LoginExternal(e.ctx, ident("t", "t@example.com"), combine.LoginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return secret, s
	}()
	lastSeen := func() time.Time {
		ss, err := e.svc.ListSessions(e.ctx, s.UserID)
		if err != nil || len(ss) != 1 {
			t.Fatalf("list: %v %v", ss, err)
		}
		return ss[0].LastSeenAt
	}
	start := lastSeen()
	e.clock.Advance(30 * time.Second)
	if _, err := e.authSession(secret); err != nil {
		t.Fatal(err)
	}
	if !lastSeen().Equal(start) {
		t.Fatal("last_seen_at written within a minute of the previous write")
	}
	e.clock.Advance(31 * time.Second)
	if _, err := e.authSession(secret); err != nil {
		t.Fatal(err)
	}
	if !lastSeen().Equal(e.clock.Now()) {
		t.Fatalf("last_seen_at = %v, want %v", lastSeen(), e.clock.Now())
	}
}

func TestSessionListAndRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, s1, sec1, _ := e.svc.LoginExternal(e.ctx, ident("r", "r@example.com"), combine.LoginRequest{UserAgent: "one"})
	_, s2, sec2, _ := e.svc.LoginExternal(e.ctx, ident("r", "r@example.com"), combine.LoginRequest{UserAgent: "two"})
	other, so, secO, _ := e.svc.LoginExternal(e.ctx, ident("o", "o@example.com"), combine.LoginRequest{})
	ctx := combine.NewContextWithAuth(e.ctx, &combine.AuthContext{UserID: u.ID, SessionID: s1.ID})
	ss, err := e.svc.ListSessions(ctx, u.ID)
	if err != nil || len(ss) != 2 {
		t.Fatalf("list = %v %v", ss, err)
	}
	for _, s := range ss {
		if s.Current != (s.ID == s1.ID) {
			t.Fatalf("current flag wrong on %+v", s)
		}
	}
	// Someone else's session is not found.
	mustCode(t, e.svc.RevokeSession(ctx, u.ID, so.ID), combine.ENOTFOUND)
	if _, err := e.authSession(secO); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeSession(ctx, u.ID, s2.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.authSession(sec2)
	mustCode(t, err, combine.EUNAUTHORIZED)
	if _, err := e.authSession(sec1); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.RevokeAllSessions(ctx, u.ID)
	if err != nil || n != 1 {
		t.Fatalf("revoke all = %d %v", n, err)
	}
	_, err = e.authSession(sec1)
	mustCode(t, err, combine.EUNAUTHORIZED)
	if _, err := e.authSession(secO); err != nil {
		t.Fatalf("another user's session ended: %v", err)
	}
	_ = other
	if es := e.audit(t, combine.AuditSessionRevoke); len(es) != 1 || es[0].ActorID != u.ID {
		t.Fatalf("revoke audit = %+v", es)
	}
	if len(e.audit(t, combine.AuditSessionRevokeAll)) != 1 {
		t.Fatal("revoke-all not audited")
	}
}

func TestAuthenticateMalformedAndRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []combine.Credentials{
		{HasAuthorization: true},                  // "Authorization: Basic …" or empty
		{HasAuthorization: true, Bearer: "nope"},  // not a token
		{HasAuthorization: true, Bearer: "pat_x"}, // wrong length
		{Session: "short"},
		{Session: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, // right shape, unknown
	}
	for i, c := range cases {
		c.ClientAddr = "198.51.100.1"
		a, err := e.svc.Authenticate(e.ctx, c)
		if a != nil {
			t.Fatalf("case %d authenticated", i)
		}
		mustCode(t, err, combine.EUNAUTHORIZED)
	}
	if a, err := e.svc.Authenticate(e.ctx, combine.Credentials{ClientAddr: "198.51.100.1"}); a != nil || err != nil {
		t.Fatalf("no credentials must be anonymous: %v %v", a, err)
	}
	// 20 failures in total are allowed at once, then 429 with Retry-After.
	for range 15 {
		_, _ = e.svc.Authenticate(e.ctx, combine.Credentials{Session: "bad", ClientAddr: "198.51.100.1"})
	}
	_, err := e.svc.Authenticate(e.ctx, combine.Credentials{Session: "bad", ClientAddr: "198.51.100.1"})
	mustCode(t, err, combine.ERATELIMITED)
	if secs := err.(*combine.Error).Details["retry_after_seconds"]; secs != 3 {
		t.Fatalf("retry after = %v", secs)
	}
	// Another address is unaffected; the limited one recovers with time.
	_, err = e.svc.Authenticate(e.ctx, combine.Credentials{Session: "bad", ClientAddr: "198.51.100.2"})
	mustCode(t, err, combine.EUNAUTHORIZED)
	e.clock.Advance(3 * time.Second)
	_, err = e.svc.Authenticate(e.ctx, combine.Credentials{Session: "bad", ClientAddr: "198.51.100.1"})
	mustCode(t, err, combine.EUNAUTHORIZED)
	_, err = e.svc.Authenticate(e.ctx, combine.Credentials{Session: "bad", ClientAddr: "198.51.100.1"})
	mustCode(t, err, combine.ERATELIMITED)
}
