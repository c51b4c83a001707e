package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/thecombine/combine"
)

// HandlerFunc is a handler that returns its error instead of writing it,
// so that errors are rendered in exactly one place.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// AccessKind says who may call a route.
type AccessKind int

// Access kinds. The zero value is deliberately invalid: a route must
// declare its access, or the server refuses to start.
const (
	accessUndeclared AccessKind = iota
	// AccessPublic routes evaluate no credential at all.
	AccessPublic
	// AccessOptional routes evaluate credentials when present and valid,
	// and treat bad ones as anonymous (sign-in pages).
	AccessOptional
	// AccessAuthenticated routes need any valid credential.
	AccessAuthenticated
	// AccessPermission routes need one permission.
	AccessPermission
	// AccessAnyPermission routes need at least one of several permissions.
	AccessAnyPermission
)

// Access is a route's declared requirement.
type Access struct {
	Kind        AccessKind
	Permissions []combine.Permission
}

// Public declares a route open to anyone, without evaluating credentials.
func Public() Access { return Access{Kind: AccessPublic} }

// Optional declares a route open to anyone that uses the caller's identity when valid.
func Optional() Access { return Access{Kind: AccessOptional} }

// RequireAuth declares a route for any authenticated caller.
func RequireAuth() Access { return Access{Kind: AccessAuthenticated} }

// RequirePermission declares a route that needs p.
func RequirePermission(p combine.Permission) Access {
	return Access{Kind: AccessPermission, Permissions: []combine.Permission{p}}
}

// RequireAnyPermission declares a route that needs one of ps.
func RequireAnyPermission(ps ...combine.Permission) Access {
	return Access{Kind: AccessAnyPermission, Permissions: ps}
}

// String describes the requirement (for docs and test names).
func (a Access) String() string {
	switch a.Kind {
	case AccessPublic:
		return "public"
	case AccessOptional:
		return "optional"
	case AccessAuthenticated:
		return "authenticated"
	case AccessPermission:
		return string(a.Permissions[0])
	case AccessAnyPermission:
		var ps []string
		for _, p := range a.Permissions {
			ps = append(ps, string(p))
		}
		return "any of " + strings.Join(ps, ", ")
	}
	return "undeclared"
}

// Route is one line of the route table.
type Route struct {
	// Pattern is a net/http ServeMux pattern with a method, e.g.
	// "GET /api/v1/executions/{id}".
	Pattern string
	Access  Access
	Handler HandlerFunc
	// Stream marks long-lived responses (Server-Sent Events) that are
	// exempt from the write timeout.
	Stream bool
	// SecretPath marks a path that carries a secret (e.g. a one-time
	// sign-in token): the access log shows the pattern instead of the path.
	SecretPath bool
	// Page marks a browser page (or a form post from one): its errors,
	// access refusals included, are rendered by the server's Pages as
	// HTML instead of the API's JSON.
	Page bool
}

// Routes returns the whole route table: every endpoint with the access it
// needs. Tests walk it to check every route against every kind of caller.
func (s *Server) Routes() []Route {
	var rs []Route
	rs = append(rs, s.systemRoutes()...)
	rs = append(rs, s.identityRoutes()...)
	rs = append(rs, s.loginRoutes()...)
	rs = append(rs, s.engineRoutes()...)
	for _, m := range s.modules {
		rs = append(rs, m.Routes()...)
	}
	return rs
}

// Module contributes extra routes (used by tests and optional features
// such as the web UI).
type Module interface {
	Routes() []Route
}

// PageRenderer renders errors of Page routes as HTML pages: the web UI
// sends an anonymous browser to sign in and shows any other refusal or
// failure as a readable page with the request id.
type PageRenderer interface {
	RenderError(w http.ResponseWriter, r *http.Request, err error)
}

// validateRoutes refuses a table with undeclared access or a bad pattern.
func validateRoutes(rs []Route) error {
	seen := map[string]bool{}
	for _, rt := range rs {
		method, path, ok := strings.Cut(rt.Pattern, " ")
		if !ok || method == "" || !strings.HasPrefix(path, "/") {
			return fmt.Errorf("route %q: pattern needs a method and a path", rt.Pattern)
		}
		if rt.Access.Kind == accessUndeclared {
			return fmt.Errorf("route %q declares no access", rt.Pattern)
		}
		if (rt.Access.Kind == AccessPermission || rt.Access.Kind == AccessAnyPermission) && len(rt.Access.Permissions) == 0 {
			return fmt.Errorf("route %q requires a permission but names none", rt.Pattern)
		}
		if rt.Handler == nil {
			return fmt.Errorf("route %q has no handler", rt.Pattern)
		}
		if seen[rt.Pattern] {
			return fmt.Errorf("route %q is declared twice", rt.Pattern)
		}
		seen[rt.Pattern] = true
	}
	return nil
}
