package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/server"
)

// routeAccess is the golden route table: every route of the API and the
// access it needs, written by hand from the contract (docs/identity.md,
// README). The test compares the server's table against it both ways, so
// adding a route, removing one or changing a route's access fails until
// this table is changed too — in review, where it shows.
var routeAccess = map[string]string{
	"GET /health":       "public",
	"GET /health/live":  "public",
	"GET /health/ready": "public",
	"GET /metrics":      "public",

	"GET /auth/login":               "public",
	"GET /auth/login/{provider}":    "public",
	"GET /auth/callback/{provider}": "public",
	"GET /auth/link/{secret}":       "public",
	"POST /auth/link/{secret}":      "public",
	"POST /auth/logout":             "optional",

	"GET /api/v1/me":                   "authenticated",
	"GET /api/v1/tokens":               "authenticated",
	"POST /api/v1/tokens":              "credentials:manage",
	"DELETE /api/v1/tokens/{id}":       "credentials:manage", // and owner or user:manage, checked by the service
	"GET /api/v1/sessions":             "authenticated",
	"DELETE /api/v1/sessions/{id}":     "credentials:manage",
	"POST /api/v1/sessions/revoke-all": "credentials:manage",
	"GET /api/v1/users":                "user:manage",
	"POST /api/v1/users":               "user:manage",
	"GET /api/v1/users/{id}":           "user:manage",
	"PATCH /api/v1/users/{id}":         "user:manage",
	"GET /api/v1/audit":                "admin",

	"GET /api/v1/workflows":                      "workflow:read",
	"GET /api/v1/workflows/{id}":                 "workflow:read",
	"POST /api/v1/workflows/{id}/executions":     "workflow:execute",
	"GET /api/v1/executions":                     "execution:read",
	"GET /api/v1/executions/{id}":                "execution:read",
	"GET /api/v1/executions/{id}/steps":          "execution:read",
	"GET /api/v1/executions/{id}/events":         "execution:read",
	"POST /api/v1/executions/{id}/submissions":   "execution:write",
	"POST /api/v1/executions/{id}/clarification": "execution:write",
	"POST /api/v1/executions/{id}/acceptance":    "execution:write",
	"POST /api/v1/executions/{id}/retry":         "execution:write",
	"POST /api/v1/executions/{id}/cancel":        "execution:cancel",
	"GET /api/v1/executions/{id}/costs":          "execution:read",
	"GET /api/v1/telemetry/summary":              "execution:read",
	"GET /api/v1/documents":                      "execution:read",
	"GET /api/v1/documents/{id}":                 "execution:read",
	"GET /api/v1/documents/{id}/versions":        "execution:read",
}

// TestRouteTableMatchesGolden: the server's table is exactly the golden one.
func TestRouteTableMatchesGolden(t *testing.T) {
	t.Parallel()
	s := servertest.New(t, servertest.Options{})
	got := map[string]string{}
	for _, rt := range s.Routes() {
		got[rt.Pattern] = rt.Access.String()
		if want, ok := routeAccess[rt.Pattern]; !ok {
			t.Errorf("route %s (%s) is not in the golden table: add it there with the access the contract gives it", rt.Pattern, rt.Access)
		} else if want != got[rt.Pattern] {
			t.Errorf("route %s declares %q, the golden table says %q", rt.Pattern, got[rt.Pattern], want)
		}
	}
	for p := range routeAccess {
		if _, ok := got[p]; !ok {
			t.Errorf("golden route %s is missing from the server", p)
		}
	}
}

var idPathParam = regexp.MustCompile(`\{[^}$]+\}`)

type idErrorJSON struct {
	Error struct {
		Code               string `json:"code"`
		RequiredPermission string `json:"required_permission"`
	} `json:"error"`
}

// idRouteCaller is one kind of caller. valid callers carry permissions;
// invalid ones present a credential that must be refused.
type idRouteCaller struct {
	name   string
	valid  bool
	perms  combine.PermissionSet
	idCred func(t *testing.T) idCred
}

// TestRouteTableAccess sends every route of the golden table, on a server
// wired with the real identity service and the real engine, as every kind
// of caller: 401 (with WWW-Authenticate: Bearer) for missing or bad
// credentials, 403 naming the golden permission for a caller who lacks
// it, neither when allowed — and never a 5xx.
func TestRouteTableAccess(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	x.svc.Limiter().SetLimit(identity.Limit{Burst: 1 << 30, Per: time.Millisecond})

	// A real execution, so that execution routes reach the engine's
	// handlers with an id that exists.
	admin := combine.NewContextWithAuth(context.Background(), &combine.AuthContext{UserID: x.users["admin"].ID,
		Roles: []string{"admin"}, Permissions: combine.PermissionsForRoles([]string{"admin"})})
	exe, err := x.srv.Engine.Executions.StartExecution(admin, combine.StartExecution{WorkflowID: "software_product_development", ProjectID: "golden"})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{"id": exe.ID}

	// Credentials that must be refused everywhere.
	revoked, revokedTok := x.token(t, "viewer")
	if err := x.svc.RevokeToken(t.Context(), revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	expired, expiredTok := x.token(t, "viewer")
	x.exec(t, `UPDATE tokens SET expires_at = $1 WHERE id = $2`, idPast(), expiredTok.ID)
	expiredSession := x.session(t, "viewer")
	x.exec(t, `UPDATE sessions SET expires_at = $1 WHERE secret_hash = $2`, idPast(), idHashOf(expiredSession))
	idleSession := x.session(t, "viewer")
	x.exec(t, `UPDATE sessions SET last_seen_at = $1 WHERE secret_hash = $2`, idPastBy(3*time.Hour), idHashOf(idleSession))
	disabledSession := x.session(t, "disabled")
	disabledToken, _ := x.token(t, "disabled")
	// Disabled behind the service's back (as by another instance whose
	// revocation has not been seen): the authenticator itself must refuse.
	x.exec(t, `UPDATE users SET disabled = TRUE WHERE id = $1`, x.users["disabled"].ID)

	roles := func(rs ...string) combine.PermissionSet { return combine.PermissionsForRoles(rs) }
	scope := []combine.Permission{combine.PermExecutionRead}
	callers := []idRouteCaller{
		{name: "anonymous", idCred: func(*testing.T) idCred { return idCred{} }},
		{name: "malformed bearer", idCred: func(*testing.T) idCred { return idCred{bearer: "pat_not-a-token"} }},
		{name: "non-bearer scheme", idCred: func(*testing.T) idCred { return idCred{bearer: ""} }},
		{name: "revoked token", idCred: func(*testing.T) idCred { return idCred{bearer: revoked} }},
		{name: "expired token", idCred: func(*testing.T) idCred { return idCred{bearer: expired} }},
		{name: "expired session", idCred: func(*testing.T) idCred { return idCred{cookie: expiredSession} }},
		{name: "idle session", idCred: func(*testing.T) idCred { return idCred{cookie: idleSession} }},
		{name: "disabled user session", idCred: func(*testing.T) idCred { return idCred{cookie: disabledSession} }},
		{name: "disabled user token", idCred: func(*testing.T) idCred { return idCred{bearer: disabledToken} }},
		{name: "viewer session", valid: true, perms: roles("viewer"), idCred: func(t *testing.T) idCred { return idCred{cookie: x.session(t, "viewer")} }},
		{name: "operator session", valid: true, perms: roles("operator"), idCred: func(t *testing.T) idCred { return idCred{cookie: x.session(t, "operator")} }},
		{name: "admin session", valid: true, perms: roles("admin"), idCred: func(t *testing.T) idCred { return idCred{cookie: x.session(t, "admin")} }},
		{name: "operator token", valid: true, perms: roles("operator"), idCred: func(t *testing.T) idCred { tok, _ := x.token(t, "operator"); return idCred{bearer: tok} }},
		{name: "admin token scoped to execution:read", valid: true, perms: roles("admin").Intersect(scope), idCred: func(t *testing.T) idCred {
			tok, _ := x.token(t, "admin", scope...)
			return idCred{bearer: tok}
		}},
	}

	patterns := make([]string, 0, len(routeAccess))
	for p := range routeAccess {
		patterns = append(patterns, p)
	}
	slices.Sort(patterns)
	for _, pattern := range patterns {
		access := routeAccess[pattern]
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.ReplaceAll(path, "{$}", "")
		path = idPathParam.ReplaceAllStringFunc(path, func(p string) string {
			if id, ok := ids[strings.Trim(p, "{}")]; ok {
				return id
			}
			return "dummy-id"
		})
		body := ""
		if method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut {
			body = "{}"
		}
		within := 10 * time.Second
		if strings.HasSuffix(pattern, "/events") {
			within = 300 * time.Millisecond // an allowed stream stays open
		}
		for _, c := range callers {
			cr := c.idCred(t)
			w := x.doWithin(within, method, path, cr, body)
			if c.name == "non-bearer scheme" {
				w = x.doWithin(within, method, path, idCred{}, body, "Authorization", "Basic dXNlcjpwYXNz")
			}
			var e idErrorJSON
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			where := pattern + " as " + c.name + " (" + access + ")"
			if w.Code >= 500 {
				t.Errorf("%s: got %d %q: a server error is never an access decision", where, w.Code, w.Body.String())
				continue
			}
			switch want := expectAccess(access, c); want {
			case http.StatusUnauthorized:
				if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") || e.Error.Code != combine.EUNAUTHORIZED {
					t.Errorf("%s: got %d %q (WWW-Authenticate %q), want 401", where, w.Code, w.Body.String(), w.Header().Get("WWW-Authenticate"))
				}
			case http.StatusForbidden:
				if w.Code != 403 || e.Error.RequiredPermission != access {
					t.Errorf("%s: got %d %q, want 403 naming %s", where, w.Code, w.Body.String(), access)
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

// expectAccess is the outcome the golden access promises to caller c.
func expectAccess(access string, c idRouteCaller) int {
	switch access {
	case "public", "optional":
		return http.StatusOK
	}
	if !c.valid {
		return http.StatusUnauthorized
	}
	if access == "authenticated" || c.perms.Has(combine.Permission(access)) {
		return http.StatusOK
	}
	return http.StatusForbidden
}

// TestRouteWithoutAccessRefused: a route that declares no access cannot ship.
func TestRouteWithoutAccessRefused(t *testing.T) {
	t.Parallel()
	srv := servertest.New(t, servertest.Options{})
	srv.AddTestRoutes(server.Route{Pattern: "GET /api/v1/forgotten", Handler: func(http.ResponseWriter, *http.Request) error { return nil }})
	if _, err := srv.Server.Handler(); err == nil || !strings.Contains(err.Error(), "declares no access") {
		t.Fatalf("server built with a route that declares no access: %v", err)
	}
}

// TestMissingDependencyFailsAtHandler: a server without one of the
// services its routes call does not build, instead of answering 500.
func TestMissingDependencyFailsAtHandler(t *testing.T) {
	t.Parallel()
	for name, unset := range map[string]func(s *server.Server){
		"authenticator": func(s *server.Server) { s.Authn = nil },
		"users":         func(s *server.Server) { s.Identity.Users = nil },
		"audit":         func(s *server.Server) { s.Identity.Audit = nil },
		"workflows":     func(s *server.Server) { s.Engine.Workflows = nil },
		"executions":    func(s *server.Server) { s.Engine.Executions = nil },
		"documents":     func(s *server.Server) { s.Engine.Documents = nil },
		"events":        func(s *server.Server) { s.Engine.Events = nil },
		"steps":         func(s *server.Server) { s.Engine.Steps = nil },
		"costs":         func(s *server.Server) { s.Engine.Costs = nil },
		"sign-in links": func(s *server.Server) { s.Identity.Links = nil },
		"login service": func(s *server.Server) { s.Identity.Login = nil },
		"sessions":      func(s *server.Server) { s.Identity.Sessions = nil },
		"token service": func(s *server.Server) { s.Identity.Tokens = nil },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := servertest.New(t, servertest.Options{})
			unset(s.Server)
			if _, err := s.Server.Handler(); err == nil || !strings.Contains(err.Error(), "missing dependencies") {
				t.Fatalf("handler built without the %s: %v", name, err)
			}
		})
	}
}
