package server_test

import (
	"context"
	"testing"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/servertest"
)

// callerRoles are the API tests' callers by name: each is a real user
// with these roles, presenting a personal access token of its own.
var callerRoles = map[string][]string{
	"viewer":   {combine.RoleViewer},
	"operator": {combine.RoleOperator},
	"pm":       {combine.RoleOperator, "pm"},
	"admin":    {combine.RoleAdmin},
	// A reviewer role alone qualifies acceptance decisions but grants no
	// permission: every API route refuses it (403).
	"reviewer": {"pm"},
}

// Callers that present a bad credential (401 from the authenticator).
const (
	// forgedCaller presents a bearer that is not a personal access token.
	forgedCaller = "forged"
	// revokedCaller presents a viewer's token that has been revoked.
	revokedCaller = "revoked"
)

// testCallers are the real users and tokens of one server instance.
type testCallers struct {
	svc     *identity.Service
	bearers map[string]string
	users   map[string]*combine.User
}

// useIdentity issues, with srv's real identity service, a token to a real user for each named caller: a name of
// callerRoles, forgedCaller or revokedCaller. Users are matched by email,
// so several instances on one database share them (each with its own
// tokens).
func useIdentity(t testing.TB, srv *servertest.Server, names ...string) *testCallers {
	t.Helper()
	ctx := context.Background()
	svc := srv.IdentitySvc
	c := &testCallers{svc: svc, bearers: map[string]string{}, users: map[string]*combine.User{}}
	for _, name := range names {
		switch name {
		case forgedCaller:
			c.bearers[name] = combine.PersonalAccessTokenPrefix + "forged"
		case revokedCaller:
			u, bearer := c.issue(t, name, []string{combine.RoleViewer})
			toks, err := svc.ListTokens(ctx, u.ID)
			if err != nil || len(toks) == 0 {
				t.Fatalf("tokens of %s: %v", name, err)
			}
			for _, tok := range toks {
				if err := svc.RevokeToken(ctx, tok.ID); err != nil {
					t.Fatalf("revoke %s: %v", tok.ID, err)
				}
			}
			c.bearers[name] = bearer
		default:
			roles, ok := callerRoles[name]
			if !ok {
				t.Fatalf("no test caller named %q", name)
			}
			c.users[name], c.bearers[name] = c.issue(t, name, roles)
		}
	}
	return c
}

// issue ensures the user name@example.com with roles and gives it a
// fresh personal access token.
func (c *testCallers) issue(t testing.TB, name string, roles []string) (*combine.User, string) {
	t.Helper()
	ctx := context.Background()
	u, _, err := c.svc.EnsureUser(ctx, combine.UserCreate{Email: name + "@example.com", Name: name, Roles: roles})
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	_, bearer, err := c.svc.CreateToken(ctx, u.ID, combine.TokenCreate{Name: "api test"}, nil)
	if err != nil {
		t.Fatalf("token of %s: %v", name, err)
	}
	return u, bearer
}

// bearer is the Authorization bearer of the named caller; "" is the
// anonymous caller. It panics on a name useIdentity did not issue, so a
// typo cannot pass for a refused credential.
func (c *testCallers) bearer(name string) string {
	if name == "" {
		return ""
	}
	b, ok := c.bearers[name]
	if !ok {
		panic("no test caller named " + name)
	}
	return b
}

// userID is the id of the named caller's user.
func (c *testCallers) userID(name string) string {
	u, ok := c.users[name]
	if !ok {
		panic("no test user named " + name)
	}
	return u.ID
}

// auth is the named caller as the real authenticator sees it, for tests
// that call a service directly.
func (c *testCallers) auth(t testing.TB, name string) context.Context {
	t.Helper()
	a, err := c.svc.Authenticate(context.Background(), combine.Credentials{Bearer: c.bearer(name), HasAuthorization: true})
	if err != nil || a == nil {
		t.Fatalf("authenticate %s: %v", name, err)
	}
	return combine.NewContextWithAuth(context.Background(), a)
}
