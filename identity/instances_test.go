package identity_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// TestChangesActAtOnceAcrossInstances runs two service instances on one
// database, as two servers behind a load balancer: a revocation, a
// demotion or a disabling made through one is in force at the other's
// next request — nothing is cached.
func TestChangesActAtOnceAcrossInstances(t *testing.T) {
	t.Parallel()
	url := testdb.URL(t)
	ctx := context.Background()
	open := func() *identity.Service {
		db, err := sqldb.Open(ctx, url, 5)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return identity.New(db, testOptions(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	a, b := open(), open()
	admin, _ := a.CreateUser(ctx, combine.UserCreate{Email: "root@example.com", Roles: []string{"admin"}})
	u, _ := a.CreateUser(ctx, combine.UserCreate{Email: "op@example.com", Roles: []string{"operator"}})
	tok1, text1, _ := a.CreateToken(ctx, u.ID, combine.TokenCreate{Name: "one"}, nil)
	_, text2, _ := a.CreateToken(ctx, u.ID, combine.TokenCreate{Name: "two"}, nil)
	link, _, _ := a.CreateLoginLink(ctx, "op@example.com")
	_, _, cookie, err := a.LoginWithLink(ctx, link, combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(s *identity.Service, c combine.Credentials) (*combine.AuthContext, error) {
		c.ClientAddr = "192.0.2.1"
		return s.Authenticate(ctx, c)
	}
	// Warm instance b: it has seen every credential succeed.
	for _, c := range []combine.Credentials{{Bearer: text1, HasAuthorization: true}, {Bearer: text2, HasAuthorization: true}, {Session: cookie}} {
		if x, err := auth(b, c); err != nil || !x.Can(combine.PermWorkflowExecute) {
			t.Fatalf("instance b before changes: %+v %v", x, err)
		}
	}
	asAdmin := combine.NewContextWithAuth(ctx, &combine.AuthContext{UserID: admin.ID, Permissions: combine.PermissionsForRoles(admin.Roles)})
	if err := a.RevokeToken(asAdmin, tok1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := auth(b, combine.Credentials{Bearer: text1, HasAuthorization: true}); combine.ErrorCode(err) != combine.EUNAUTHORIZED {
		t.Fatalf("revoked on a, still valid on b: %v", err)
	}
	viewer := []string{"viewer"}
	if _, err := a.UpdateUser(ctx, u.ID, combine.UserUpdate{Roles: &viewer}); err != nil {
		t.Fatal(err)
	}
	if x, _ := auth(b, combine.Credentials{Bearer: text2, HasAuthorization: true}); x.Can(combine.PermWorkflowExecute) {
		t.Fatal("demoted on a, token still operator on b")
	}
	if x, _ := auth(b, combine.Credentials{Session: cookie}); x.Can(combine.PermWorkflowExecute) {
		t.Fatal("demoted on a, session still operator on b")
	}
	yes := true
	if _, err := a.UpdateUser(ctx, u.ID, combine.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []combine.Credentials{{Bearer: text2, HasAuthorization: true}, {Session: cookie}} {
		if _, err := auth(b, c); combine.ErrorCode(err) != combine.EUNAUTHORIZED {
			t.Fatalf("disabled on a, still valid on b: %v", err)
		}
	}
}
