package identity_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// instance is one identity service with its own connection pool and a
// live credential cache: one server process of a deployment.
type instance struct {
	svc      *identity.Service
	db       *sqldb.DB
	notifier *events.Notifier // PostgreSQL only
}

// cluster opens n instances on one fresh database sharing clk, each
// with a credential cache fed as cmd/combine feeds it.
func cluster(t testing.TB, n int, clk *clock) []*instance {
	t.Helper()
	url := testdb.URL(t)
	ctx := context.Background()
	var out []*instance
	for i := range n {
		db, err := sqldb.Open(ctx, url, 5)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if i == 0 {
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		in := &instance{svc: newServiceOn(t, db, clk), db: db}
		in.start(t)
		out = append(out, in)
	}
	return out
}

// newServiceOn returns an identity service on db with the cache on (TTL
// 10 s) and clk as its clock.
func newServiceOn(t testing.TB, db *sqldb.DB, clk *clock) *identity.Service {
	t.Helper()
	opts := testOptions()
	opts.CacheTTL = 10 * time.Second
	svc := identity.New(db, opts, discardLogger())
	svc.Now = clk.Now
	return svc
}

// start connects the instance's cache to its feed and waits until it is live.
func (in *instance) start(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	cache := in.svc.Cache()
	if in.db.Dialect == sqldb.Postgres && in.notifier == nil {
		in.notifier = events.NewNotifier(in.db, discardLogger())
		// Long enough for a test that cuts the connection to see the
		// cache bypassed, short enough to see it come back.
		in.notifier.Retry = time.Second
		in.notifier.Listen(identity.NotifyChannel, cache)
		if err := in.notifier.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = in.notifier.Stop(context.Background()) })
	}
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Stop(context.Background()) })
	waitFor(t, "the cache's invalidation feed to come up", cache.Live)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (in *instance) auth(c combine.Credentials) (*combine.AuthContext, error) {
	c.ClientAddr = "192.0.2.1"
	return in.svc.Authenticate(context.Background(), c)
}

func bearer(tok string) combine.Credentials {
	return combine.Credentials{Bearer: tok, HasAuthorization: true}
}

func cookie(secret string) combine.Credentials { return combine.Credentials{Session: secret} }

// warm authenticates c on in until a request is served from the cache,
// so that a change must then beat a cached entry. (A read that overlaps
// any eviction — say the audit-log reader replaying an earlier test's
// change — is not stored, so the first attempts may all read.)
func (in *instance) warm(t *testing.T, c combine.Credentials, want combine.Permission) {
	t.Helper()
	for i := 0; ; i++ {
		hits := in.svc.Cache().Stats().Hits
		if a, err := in.auth(c); err != nil || !a.Can(want) {
			t.Fatalf("before the change: %+v %v", a, err)
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

// refusedWithin polls until check reports the change and returns how long
// it took; it fails the test after bound.
func refusedWithin(t *testing.T, bound time.Duration, check func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !check() {
		if time.Since(start) > bound {
			t.Fatalf("the change did not act within %s", bound)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestCacheInvalidation: every way access ends or shrinks acts on the
// very next request of the instance that made the change, and within the
// bound on another instance — through a warm cache in both cases.
func TestCacheInvalidation(t *testing.T) {
	t.Parallel()
	type world struct {
		admin             *combine.User
		user              *combine.User
		tokID             string
		tok, cookieSecret string
		sessID            string
		asAdmin, asUser   context.Context
		changer, checker  *instance
		clk               *clock
	}
	type path struct {
		name   string
		clock  bool // the change is the passing of time
		cred   func(w *world) combine.Credentials
		change func(t *testing.T, w *world)
		// refused reports whether the credential now fails as the change
		// requires (401, or a lost permission).
		refused func(a *combine.AuthContext, err error) bool
	}
	unauthorized := func(a *combine.AuthContext, err error) bool {
		return combine.ErrorCode(err) == combine.EUNAUTHORIZED
	}
	demoted := func(a *combine.AuthContext, err error) bool {
		return err == nil && !a.Can(combine.PermWorkflowExecute) && a.Can(combine.PermWorkflowRead)
	}
	tokenCred := func(w *world) combine.Credentials { return bearer(w.tok) }
	sessionCred := func(w *world) combine.Credentials { return cookie(w.cookieSecret) }
	roles := func(rs ...string) *[]string { return &rs }
	yes := true
	paths := []path{
		{"revoke token", false, tokenCred, func(t *testing.T, w *world) {
			if err := w.changer.svc.RevokeToken(w.asUser, w.tokID); err != nil {
				t.Fatal(err)
			}
		}, unauthorized},
		{"revoke token by an admin", false, tokenCred, func(t *testing.T, w *world) {
			if err := w.changer.svc.RevokeToken(w.asAdmin, w.tokID); err != nil {
				t.Fatal(err)
			}
		}, unauthorized},
		{"logout", false, sessionCred, func(t *testing.T, w *world) {
			if err := w.changer.svc.Logout(w.asUser, w.sessID); err != nil {
				t.Fatal(err)
			}
		}, unauthorized},
		{"revoke session", false, sessionCred, func(t *testing.T, w *world) {
			if err := w.changer.svc.RevokeSession(w.asUser, w.user.ID, w.sessID); err != nil {
				t.Fatal(err)
			}
		}, unauthorized},
		{"revoke all sessions", false, sessionCred, func(t *testing.T, w *world) {
			if _, err := w.changer.svc.RevokeAllSessions(w.asUser, w.user.ID); err != nil {
				t.Fatal(err)
			}
		}, unauthorized},
		{"disable user (token)", false, tokenCred, func(t *testing.T, w *world) {
			if _, err := w.changer.svc.UpdateUser(w.asAdmin, w.user.ID, combine.UserUpdate{Disabled: &yes}); err != nil {
				t.Fatal(err)
			}
		}, unauthorized},
		{"disable user (session)", false, sessionCred, func(t *testing.T, w *world) {
			if _, err := w.changer.svc.UpdateUser(w.asAdmin, w.user.ID, combine.UserUpdate{Disabled: &yes}); err != nil {
				t.Fatal(err)
			}
		}, unauthorized},
		{"demote (token)", false, tokenCred, func(t *testing.T, w *world) {
			if _, err := w.changer.svc.UpdateUser(w.asAdmin, w.user.ID, combine.UserUpdate{Roles: roles("viewer")}); err != nil {
				t.Fatal(err)
			}
		}, demoted},
		{"demote (session)", false, sessionCred, func(t *testing.T, w *world) {
			if _, err := w.changer.svc.UpdateUser(w.asAdmin, w.user.ID, combine.UserUpdate{Roles: roles("viewer")}); err != nil {
				t.Fatal(err)
			}
		}, demoted},
		{"demote with users create", false, tokenCred, func(t *testing.T, w *world) {
			if _, _, err := w.changer.svc.EnsureUser(context.Background(), combine.UserCreate{Email: w.user.Email, Roles: []string{"viewer"}}); err != nil {
				t.Fatal(err)
			}
		}, demoted},
		{"token expiry", true, tokenCred, func(t *testing.T, w *world) { w.clk.Advance(24 * time.Hour) }, unauthorized},
		{"session lifetime", true, sessionCred, func(t *testing.T, w *world) { w.clk.Advance(24 * time.Hour) }, unauthorized},
		{"session idle timeout", true, sessionCred, func(t *testing.T, w *world) { w.clk.Advance(2 * time.Hour) }, unauthorized},
	}
	// setup makes a fresh operator with a token and a session on the
	// cluster (an admin is made once per cluster).
	setup := func(t *testing.T, ins []*instance, clk *clock, admin *combine.User, n int) *world {
		t.Helper()
		w := &world{changer: ins[0], checker: ins[len(ins)-1], clk: clk, admin: admin}
		ctx := context.Background()
		a := w.changer.svc
		var err error
		if w.user, err = a.CreateUser(ctx, combine.UserCreate{Email: fmt.Sprintf("op%d@example.com", n), Roles: []string{"operator"}}); err != nil {
			t.Fatal(err)
		}
		one := 1
		tok, text, err := a.CreateToken(ctx, w.user.ID, combine.TokenCreate{Name: "t", ExpiresInDays: &one}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.tokID, w.tok = tok.ID, text
		link, _, err := a.CreateLoginLink(ctx, w.user.Email)
		if err != nil {
			t.Fatal(err)
		}
		_, sess, secret, err := a.LoginWithLink(ctx, link, combine.LoginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		w.sessID, w.cookieSecret = sess.ID, secret
		w.asAdmin = combine.NewContextWithAuth(ctx, &combine.AuthContext{UserID: w.admin.ID, Email: w.admin.Email,
			Permissions: combine.PermissionsForRoles(w.admin.Roles)})
		w.asUser = combine.NewContextWithAuth(ctx, &combine.AuthContext{UserID: w.user.ID, Email: w.user.Email,
			Permissions: combine.PermissionsForRoles(w.user.Roles), SessionID: w.sessID})
		return w
	}
	newCluster := func(t *testing.T, n int) ([]*instance, *clock, *combine.User) {
		t.Helper()
		clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
		ins := cluster(t, n, clk)
		admin, err := ins[0].svc.CreateUser(context.Background(), combine.UserCreate{Email: "root@example.com", Roles: []string{"admin"}})
		if err != nil {
			t.Fatal(err)
		}
		return ins, clk, admin
	}
	for _, topo := range []string{"one instance", "two instances"} {
		t.Run(topo, func(t *testing.T) {
			t.Parallel()
			n := 1
			if topo == "two instances" {
				n = 2
			}
			// Changes of access share one cluster (a fresh user each, one
			// at a time, so the cache counters are theirs); moving the
			// clock needs a cluster of its own.
			shared, sharedClk, sharedAdmin := newCluster(t, n)
			for i, p := range paths {
				t.Run(p.name, func(t *testing.T) {
					ins, clk, admin := shared, sharedClk, sharedAdmin
					if p.clock {
						t.Parallel()
						ins, clk, admin = newCluster(t, n)
					}
					w := setup(t, ins, clk, admin, i)
					for _, in := range ins {
						in.warm(t, p.cred(w), combine.PermWorkflowExecute)
					}
					p.change(t, w)
					// The instance that made the change: the very next request.
					if got, err := w.changer.auth(p.cred(w)); !p.refused(got, err) {
						t.Fatalf("%s on this instance: the next request got %+v, %v", p.name, got, err)
					}
					if n == 1 {
						return
					}
					took := refusedWithin(t, time.Second, func() bool { return p.refused(w.checker.auth(p.cred(w))) })
					t.Logf("%s: refused by the other instance after %s", p.name, took)
				})
			}
		})
	}
}
