package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
)

var _ combine.AccessWatcher = (*identity.Service)(nil)

func signalled(ch <-chan struct{}, within time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	select {
	case <-ch:
		return true
	case <-time.After(within):
		return false
	}
}

// TestWatchAccess: a watch (what an event stream holds) is signalled when
// its credential is revoked or ended, or its owner disabled or demoted —
// by this instance at once, by another within the bound — and when the
// credential expires; not by other people's changes, and never after stop.
func TestWatchAccess(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ctx := context.Background()
	other, err := p.a.svc.CreateUser(ctx, combine.UserCreate{Email: "other@example.com", Roles: []string{"operator"}})
	if err != nil {
		t.Fatal(err)
	}
	otherTok, _, err := p.a.svc.CreateToken(ctx, other.ID, combine.TokenCreate{Name: "o"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	watchToken := func(in *instance) (string, <-chan struct{}, func()) {
		t.Helper()
		id, text := p.token(t)
		a, err := in.auth(bearer(text))
		if err != nil {
			t.Fatal(err)
		}
		ch, stop := in.svc.WatchAccess(a)
		return id, ch, stop
	}

	// Someone else's change does not disturb the watch; its own revocation
	// signals it on this instance before RevokeToken returns.
	id, ch, stop := watchToken(p.a)
	defer stop()
	if err := p.a.svc.RevokeToken(p.asAdmin, otherTok.ID); err != nil {
		t.Fatal(err)
	}
	if signalled(ch, 100*time.Millisecond) {
		t.Fatal("the watch was signalled by another user's token revocation")
	}
	if err := p.a.svc.RevokeToken(p.asAdmin, id); err != nil {
		t.Fatal(err)
	}
	if !signalled(ch, 0) {
		t.Fatal("the watch was not signalled by its token's revocation on the same instance")
	}

	// On another instance, within the bound.
	id, ch, stop = watchToken(p.b)
	defer stop()
	start := time.Now()
	if err := p.a.svc.RevokeToken(p.asAdmin, id); err != nil {
		t.Fatal(err)
	}
	if !signalled(ch, time.Second) {
		t.Fatal("a revocation on instance a did not signal the watch on b within 1s")
	}
	t.Logf("revocation on a signalled the watch on b after %s", time.Since(start))

	// Logout, demotion and disabling, on b, of a session watched on b.
	session := func() (string, <-chan struct{}, func()) {
		t.Helper()
		link, _, err := p.a.svc.CreateLoginLink(ctx, p.user.Email)
		if err != nil {
			t.Fatal(err)
		}
		_, sess, secret, err := p.a.svc.LoginWithLink(ctx, link, combine.LoginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := p.b.auth(cookie(secret))
		if err != nil {
			t.Fatal(err)
		}
		if !a.ExpiresAt.Equal(sess.ExpiresAt) {
			t.Fatalf("AuthContext.ExpiresAt = %v, want the session's end %v", a.ExpiresAt, sess.ExpiresAt)
		}
		ch, stop := p.b.svc.WatchAccess(a)
		return sess.ID, ch, stop
	}
	sessID, ch, stop := session()
	defer stop()
	if err := p.a.svc.Logout(ctx, sessID); err != nil {
		t.Fatal(err)
	}
	if !signalled(ch, time.Second) {
		t.Fatal("logout on a did not signal the session's watch on b")
	}
	viewer := []string{"viewer"}
	_, ch, stop = session()
	defer stop()
	if _, err := p.a.svc.UpdateUser(p.asAdmin, p.user.ID, combine.UserUpdate{Roles: &viewer}); err != nil {
		t.Fatal(err)
	}
	if !signalled(ch, time.Second) {
		t.Fatal("a demotion on a did not signal the watch on b")
	}
	_, ch, stop = session()
	defer stop()
	yes := true
	if _, err := p.a.svc.UpdateUser(p.asAdmin, p.user.ID, combine.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if !signalled(ch, time.Second) {
		t.Fatal("disabling the user on a did not signal the watch on b")
	}

	// A stopped watch is never signalled.
	no := false
	if _, err := p.a.svc.UpdateUser(p.asAdmin, p.user.ID, combine.UserUpdate{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	id, ch, stop = watchToken(p.a)
	stop()
	stop() // idempotent
	if err := p.a.svc.RevokeToken(p.asAdmin, id); err != nil {
		t.Fatal(err)
	}
	if signalled(ch, 100*time.Millisecond) {
		t.Fatal("a stopped watch was signalled")
	}
}

// TestWatchAccessExpiry: a watch ends when its credential expires, even
// with nothing changed in the database.
func TestWatchAccessExpiry(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	a := &combine.AuthContext{UserID: p.user.ID, TokenID: "tok_x", ExpiresAt: p.clk.Now().Add(50 * time.Millisecond)}
	ch, stop := p.a.svc.WatchAccess(a)
	defer stop()
	if signalled(ch, 10*time.Millisecond) {
		t.Fatal("signalled before the expiry")
	}
	if !signalled(ch, 2*time.Second) {
		t.Fatal("not signalled at the credential's expiry")
	}
	ch, stop = p.a.svc.WatchAccess(nil)
	defer stop()
	if signalled(ch, 20*time.Millisecond) {
		t.Fatal("an anonymous watch was signalled")
	}
}

// TestWatchAccessFeedReconnect: when the invalidation feed comes back
// after a loss, every watch is signalled (a change may have been missed).
func TestWatchAccessFeedReconnect(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	_, text := p.token(t)
	a, err := p.b.auth(bearer(text))
	if err != nil {
		t.Fatal(err)
	}
	ch, stop := p.b.svc.WatchAccess(a)
	defer stop()
	resume := p.cutFeed(t)
	waitFor(t, "the cache to notice the lost feed", func() bool { return !p.b.svc.Cache().Live() })
	resume()
	if !signalled(ch, 10*time.Second) {
		t.Fatal("the watch was not signalled when the feed came back")
	}
}
