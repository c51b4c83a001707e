package server_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/server"
)

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

type errorJSON struct {
	Error struct {
		Code               string `json:"code"`
		RequiredPermission string `json:"required_permission"`
	} `json:"error"`
}

// routeCaller is one kind of caller. valid callers carry permissions;
// invalid ones present a credential that must be refused.
type routeCaller struct {
	name  string
	valid bool
	perms combine.PermissionSet
	cred  func(t *testing.T) cred
}

// TestRouteTableAccess walks every route of the table (whatever areas add
// to it) and checks it against every kind of caller: 401 (with
// WWW-Authenticate: Bearer) for missing or bad credentials, 403 naming the
// permission for a caller who lacks it, and neither when allowed.
func TestRouteTableAccess(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	x.svc.Limiter().SetLimit(identity.Limit{Burst: 1 << 30, Per: time.Millisecond})

	// Credentials that must be refused everywhere.
	revoked, revokedTok := x.token(t, "viewer")
	if err := x.svc.RevokeToken(t.Context(), revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	expired, expiredTok := x.token(t, "viewer")
	x.exec(t, `UPDATE tokens SET expires_at = $1 WHERE id = $2`, past(), expiredTok.ID)
	expiredSession := x.session(t, "viewer")
	x.exec(t, `UPDATE sessions SET expires_at = $1 WHERE secret_hash = $2`, past(), hashOf(expiredSession))
	idleSession := x.session(t, "viewer")
	x.exec(t, `UPDATE sessions SET last_seen_at = $1 WHERE secret_hash = $2`, pastBy(3*time.Hour), hashOf(idleSession))
	disabledSession := x.session(t, "disabled")
	disabledToken, _ := x.token(t, "disabled")
	// Disabled behind the service's back (as by another instance whose
	// revocation has not been seen): the authenticator itself must refuse.
	x.exec(t, `UPDATE users SET disabled = TRUE WHERE id = $1`, x.users["disabled"].ID)

	roles := func(rs ...string) combine.PermissionSet { return combine.PermissionsForRoles(rs) }
	scope := []combine.Permission{combine.PermExecutionRead}
	callers := []routeCaller{
		{name: "anonymous", cred: func(*testing.T) cred { return cred{} }},
		{name: "malformed bearer", cred: func(*testing.T) cred { return cred{bearer: "pat_not-a-token"} }},
		{name: "non-bearer scheme", cred: func(*testing.T) cred { return cred{bearer: ""} }},
		{name: "revoked token", cred: func(*testing.T) cred { return cred{bearer: revoked} }},
		{name: "expired token", cred: func(*testing.T) cred { return cred{bearer: expired} }},
		{name: "expired session", cred: func(*testing.T) cred { return cred{cookie: expiredSession} }},
		{name: "idle session", cred: func(*testing.T) cred { return cred{cookie: idleSession} }},
		{name: "disabled user session", cred: func(*testing.T) cred { return cred{cookie: disabledSession} }},
		{name: "disabled user token", cred: func(*testing.T) cred { return cred{bearer: disabledToken} }},
		{name: "viewer session", valid: true, perms: roles("viewer"), cred: func(t *testing.T) cred { return cred{cookie: x.session(t, "viewer")} }},
		{name: "operator session", valid: true, perms: roles("operator"), cred: func(t *testing.T) cred { return cred{cookie: x.session(t, "operator")} }},
		{name: "admin session", valid: true, perms: roles("admin"), cred: func(t *testing.T) cred { return cred{cookie: x.session(t, "admin")} }},
		{name: "operator token", valid: true, perms: roles("operator"), cred: func(t *testing.T) cred { tok, _ := x.token(t, "operator"); return cred{bearer: tok} }},
		{name: "admin token scoped to execution:read", valid: true, perms: roles("admin").Intersect(scope), cred: func(t *testing.T) cred {
			tok, _ := x.token(t, "admin", scope...)
			return cred{bearer: tok}
		}},
	}

	routes := x.srv.Routes()
	if len(routes) < 15 {
		t.Fatalf("route table has only %d routes", len(routes))
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = pathParam.ReplaceAllString(path, "dummy-id")
		body := ""
		if method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut {
			body = "{}"
		}
		for _, c := range callers {
			cr := c.cred(t)
			var w = x.do(method, path, cr, body)
			if cr.bearer == "" && c.name == "non-bearer scheme" {
				w = x.do(method, path, cred{}, body, "Authorization", "Basic dXNlcjpwYXNz")
			}
			var e errorJSON
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			where := rt.Pattern + " as " + c.name + " (" + rt.Access.String() + ")"
			switch want := expectAccess(rt.Access, c); want {
			case http.StatusUnauthorized:
				if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") || e.Error.Code != combine.EUNAUTHORIZED {
					t.Errorf("%s: got %d %q (WWW-Authenticate %q), want 401", where, w.Code, w.Body.String(), w.Header().Get("WWW-Authenticate"))
				}
			case http.StatusForbidden:
				if w.Code != 403 || e.Error.RequiredPermission != string(rt.Access.Permissions[0]) {
					t.Errorf("%s: got %d %q, want 403 naming %s", where, w.Code, w.Body.String(), rt.Access.Permissions[0])
				}
			default:
				if w.Code == 401 || w.Code == 403 {
					t.Errorf("%s: got %d %q, want access", where, w.Code, w.Body.String())
				}
			}
		}
	}
	if es, _, _ := x.svc.FindAudit(t.Context(), combine.AuditFilter{Action: combine.AuditPermissionDenied, Limit: 1}); len(es) != 1 {
		t.Error("permission denials are not audited")
	}
}

// expectAccess derives the expected outcome from the route's declared access.
func expectAccess(a server.Access, c routeCaller) int {
	switch a.Kind {
	case server.AccessPublic, server.AccessOptional:
		return http.StatusOK
	}
	if !c.valid {
		return http.StatusUnauthorized
	}
	if a.Kind == server.AccessAuthenticated || slices.ContainsFunc(a.Permissions, c.perms.Has) {
		return http.StatusOK
	}
	return http.StatusForbidden
}

type undeclared struct{}

func (undeclared) Routes() []server.Route {
	return []server.Route{{Pattern: "GET /api/v1/forgotten", Handler: func(http.ResponseWriter, *http.Request) error { return nil }}}
}

// TestRouteWithoutAccessRefused: a route that declares no access cannot ship.
func TestRouteWithoutAccessRefused(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	srv := server.New(x.cfg, x.srv.Logger(), nil, nil)
	srv.AddModule(undeclared{})
	if _, err := srv.Handler(); err == nil || !strings.Contains(err.Error(), "declares no access") {
		t.Fatalf("server built with an undeclared route: %v", err)
	}
}

// TestIdentityRouteDeclarations pins the identity routes to the contract's
// permission table, so a loosened declaration cannot pass unnoticed.
func TestIdentityRouteDeclarations(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	want := map[string]string{
		"GET /api/v1/me":                   "authenticated",
		"GET /api/v1/tokens":               "authenticated",
		"POST /api/v1/tokens":              "authenticated",
		"DELETE /api/v1/tokens/{id}":       "authenticated", // owner or user:manage, checked by the service
		"GET /api/v1/sessions":             "authenticated",
		"DELETE /api/v1/sessions/{id}":     "authenticated",
		"POST /api/v1/sessions/revoke-all": "authenticated",
		"GET /api/v1/users":                "user:manage",
		"POST /api/v1/users":               "user:manage",
		"GET /api/v1/users/{id}":           "user:manage",
		"PATCH /api/v1/users/{id}":         "user:manage",
		"GET /api/v1/audit":                "admin",
		"GET /auth/link/{secret}":          "public",
		"POST /auth/link/{secret}":         "public",
		"POST /auth/logout":                "optional",
	}
	got := map[string]string{}
	for _, rt := range x.srv.Routes() {
		got[rt.Pattern] = rt.Access.String()
	}
	for p, a := range want {
		if got[p] != a {
			t.Errorf("%s: access %q, want %q", p, got[p], a)
		}
	}
}
