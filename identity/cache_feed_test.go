package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/sqldb"
)

// pair is two instances with an operator, an admin context and a helper
// to issue tokens.
type pair struct {
	a, b    *instance
	user    *combine.User
	asAdmin context.Context
	clk     *clock
}

func newPair(t *testing.T) *pair {
	t.Helper()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	ins := cluster(t, 2, clk)
	ctx := context.Background()
	admin, err := ins[0].svc.CreateUser(ctx, combine.UserCreate{Email: "root@example.com", Roles: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := ins[0].svc.CreateUser(ctx, combine.UserCreate{Email: "op@example.com", Roles: []string{"operator"}})
	if err != nil {
		t.Fatal(err)
	}
	return &pair{a: ins[0], b: ins[1], user: u, clk: clk, asAdmin: combine.NewContextWithAuth(ctx,
		&combine.AuthContext{UserID: admin.ID, Email: admin.Email, Permissions: combine.PermissionsForRoles(admin.Roles)})}
}

func (p *pair) token(t *testing.T) (string, string) {
	t.Helper()
	tok, text, err := p.a.svc.CreateToken(context.Background(), p.user.ID, combine.TokenCreate{Name: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID, text
}

// cutFeed cuts b's invalidation feed as a failure would: on PostgreSQL by
// terminating its LISTEN connection's backend (the notifier reconnects
// after its Retry), on SQLite by stopping the audit-log reader (resume
// starts it again).
func (p *pair) cutFeed(t *testing.T) (resume func()) {
	t.Helper()
	if p.b.db.Dialect == sqldb.Postgres {
		var killed int
		err := p.a.db.R.QueryRowContext(context.Background(), `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, events.ApplicationName).Scan(&killed)
		if err != nil || killed != 2 {
			t.Fatalf("terminating the LISTEN connections: %d terminated, %v", killed, err)
		}
		return func() {}
	}
	if err := p.b.svc.Cache().Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	return func() { p.b.start(t) }
}

// TestCacheFeedLoss: while an instance's invalidation feed is down its
// cache is bypassed (health degraded), so a revocation whose notification
// it missed still acts at once; once the feed is back the cache serves
// again, starts empty (the missed change cannot resurface) and follows
// new changes within the bound.
func TestCacheFeedLoss(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	missedID, missed := p.token(t)
	p.b.warm(t, bearer(missed), combine.PermWorkflowExecute)
	if _, err := p.b.svc.Cache().Check(context.Background()); err != nil {
		t.Fatalf("health with the feed up: %v", err)
	}

	resume := p.cutFeed(t)
	waitFor(t, "the cache to notice the lost feed", func() bool { return !p.b.svc.Cache().Live() })
	d, err := p.b.svc.Cache().Check(context.Background())
	if !errors.Is(err, health.ErrDegraded) || d["invalidation_live"] != false {
		t.Fatalf("health with the feed down: %v %v, want degraded", d, err)
	}
	if err := p.a.svc.RevokeToken(p.asAdmin, missedID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.b.auth(bearer(missed)); combine.ErrorCode(err) != combine.EUNAUTHORIZED {
		t.Fatalf("revoked while b's feed was down: b's next request got %v, want 401", err)
	}
	if st := p.b.svc.Cache().Stats(); st.Bypassed == 0 {
		t.Fatalf("the cache was not bypassed while its feed was down: %+v", st)
	}

	resume()
	waitFor(t, "the feed to come back", p.b.svc.Cache().Live)
	if _, err := p.b.auth(bearer(missed)); combine.ErrorCode(err) != combine.EUNAUTHORIZED {
		t.Fatalf("after the feed came back, the token revoked meanwhile got %v, want 401", err)
	}
	if _, err := p.b.svc.Cache().Check(context.Background()); err != nil {
		t.Fatalf("health after the feed came back: %v", err)
	}
	laterID, later := p.token(t)
	p.b.warm(t, bearer(later), combine.PermWorkflowExecute)
	if err := p.a.svc.RevokeToken(p.asAdmin, laterID); err != nil {
		t.Fatal(err)
	}
	took := refusedWithin(t, time.Second, func() bool {
		_, err := p.b.auth(bearer(later))
		return combine.ErrorCode(err) == combine.EUNAUTHORIZED
	})
	t.Logf("after the feed came back, a revocation on a reached b in %s", took)
}

// TestCacheTTLBackstop: a change made behind the service's back (plain
// SQL, no announcement) is served from the cache until the TTL, then the
// credential is read again and refused. It also shows that a warm
// credential costs no database read: the entry outlives the change.
func TestCacheTTLBackstop(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	_, tok := p.token(t)
	p.a.warm(t, bearer(tok), combine.PermWorkflowExecute)
	if _, err := p.a.db.W.ExecContext(context.Background(), `UPDATE users SET disabled = TRUE WHERE id = $1`, p.user.ID); err != nil {
		t.Fatal(err)
	}
	p.clk.Advance(9 * time.Second)
	if _, err := p.a.auth(bearer(tok)); err != nil {
		t.Fatalf("within the TTL the cached credential should be served (no database read): %v", err)
	}
	p.clk.Advance(time.Second)
	if _, err := p.a.auth(bearer(tok)); combine.ErrorCode(err) != combine.EUNAUTHORIZED {
		t.Fatalf("after the TTL: %v, want 401 from a fresh read", err)
	}
}

// TestCacheLastUsed: with the cache, last_used_at and last_seen_at are
// still written at most once a minute per credential, and the throttle
// survives a restart (it is read back from the database).
func TestCacheLastUsed(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ctx := context.Background()
	tokID, tok := p.token(t)
	lastUsed := func() time.Time {
		t.Helper()
		ts, err := p.a.svc.ListTokens(ctx, p.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ts {
			if x.ID == tokID && x.LastUsedAt != nil {
				return *x.LastUsedAt
			}
		}
		return time.Time{}
	}
	start := p.clk.Now()
	p.a.warm(t, bearer(tok), combine.PermWorkflowRead)
	if got := lastUsed(); !got.Equal(start) {
		t.Fatalf("last_used_at after the first use = %v, want %v", got, start)
	}
	p.clk.Advance(59 * time.Second)
	if _, err := p.a.auth(bearer(tok)); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(start) {
		t.Fatalf("used again within a minute: last_used_at = %v, want it unchanged (%v)", got, start)
	}
	p.clk.Advance(time.Second)
	if _, err := p.a.auth(bearer(tok)); err != nil { // served from the cache
		t.Fatal(err)
	}
	second := p.clk.Now()
	if got := lastUsed(); !got.Equal(second) {
		t.Fatalf("used a minute later from the cache: last_used_at = %v, want %v", got, second)
	}

	// A restart: a fresh instance (empty cache) on the same database.
	restarted := cluster2(t, p)
	p.clk.Advance(30 * time.Second)
	if _, err := restarted.auth(bearer(tok)); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(second) {
		t.Fatalf("after a restart, within the minute: last_used_at = %v, want %v", got, second)
	}
	p.clk.Advance(30 * time.Second)
	if _, err := restarted.auth(bearer(tok)); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(p.clk.Now()) {
		t.Fatalf("after a restart, a minute later: last_used_at = %v, want %v", got, p.clk.Now())
	}

	// Sessions: last_seen_at, the same way.
	link, _, err := p.a.svc.CreateLoginLink(ctx, p.user.Email)
	if err != nil {
		t.Fatal(err)
	}
	_, sess, secret, err := p.a.svc.LoginWithLink(ctx, link, combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	lastSeen := func() time.Time {
		t.Helper()
		ss, err := p.a.svc.ListSessions(ctx, p.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ss {
			if x.ID == sess.ID {
				return x.LastSeenAt
			}
		}
		t.Fatal("session not listed")
		return time.Time{}
	}
	opened := p.clk.Now()
	p.a.warm(t, cookie(secret), combine.PermWorkflowRead)
	p.clk.Advance(59 * time.Second)
	if _, err := p.a.auth(cookie(secret)); err != nil {
		t.Fatal(err)
	}
	if got := lastSeen(); !got.Equal(opened) {
		t.Fatalf("session used within a minute: last_seen_at = %v, want %v", got, opened)
	}
	p.clk.Advance(time.Second)
	if _, err := p.a.auth(cookie(secret)); err != nil {
		t.Fatal(err)
	}
	if got := lastSeen(); !got.Equal(p.clk.Now()) {
		t.Fatalf("session used a minute later from the cache: last_seen_at = %v, want %v", got, p.clk.Now())
	}
}

// cluster2 opens one more instance on p's database, as a restarted process.
func cluster2(t *testing.T, p *pair) *instance {
	t.Helper()
	in := &instance{svc: newServiceOn(t, p.a.db, p.clk), db: p.a.db}
	in.start(t)
	return in
}
