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

// Route is one line of the route table.
type Route struct {
	// Pattern is a net/http ServeMux pattern with a method, e.g.
	// "GET /api/v1/executions/{id}".
	Pattern string
	Access  Access
	Handler HandlerFunc
	// Stream marks long-lived responses (Server-Sent Events): exempt from
	// the write timeout, re-authorized while open.
	Stream bool
	// SecretPath marks a path that carries a secret (e.g. a one-time
	// sign-in token): the access log shows the pattern instead of the path.
	SecretPath bool
	// Quiet routes (probes, scrapes) are logged at DEBUG unless they fail.
	Quiet bool
	// Page marks a browser page (or a form post from one): its errors,
	// access refusals included, are rendered by the server's Pages as
	// HTML instead of the API's JSON.
	Page bool
}

// Routes returns the whole route table: every endpoint with the access it
// needs, in one place. Tests walk it, and pin it against a table written
// by hand, so that no route ships unprotected or changes access unnoticed.
func (s *Server) Routes() []Route {
	read, write := combine.PermExecutionRead, combine.PermExecutionWrite
	rs := []Route{
		// Operations: health and metrics.
		{Pattern: "GET /health", Access: Public(), Handler: s.handleHealth, Quiet: true},
		{Pattern: "GET /health/live", Access: Public(), Handler: s.handleLive, Quiet: true},
		{Pattern: "GET /health/ready", Access: Public(), Handler: s.handleReady, Quiet: true},
		{Pattern: "GET /metrics", Access: Public(), Handler: s.handleMetrics, Quiet: true},

		// Browser sign-in. Every route is public: these pages are how one
		// gets credentials, and a stale session cookie must never stand in
		// the way of signing in again.
		{Pattern: "GET /auth/login", Access: Public(), Handler: s.handleLoginPage},
		{Pattern: "GET /auth/login/{provider}", Access: Public(), Handler: s.handleLoginStart},
		{Pattern: "GET /auth/callback/{provider}", Access: Public(), Handler: s.handleLoginCallback},
		// One-time sign-in links: GET shows a confirmation page (link
		// scanners prefetch GETs, so it must not use the link up); POST
		// consumes it.
		{Pattern: "GET /auth/link/{secret}", Access: Public(), Handler: s.handleLinkPage, SecretPath: true},
		{Pattern: "POST /auth/link/{secret}", Access: Public(), Handler: s.handleLinkSubmit, SecretPath: true},
		{Pattern: "POST /auth/logout", Access: Optional(), Handler: s.handleLogout},

		// Identity: one's own credentials (reading them needs any valid
		// credential, changing them credentials:manage, which a scoped
		// token holds only when it names it), users and the audit log.
		{Pattern: "GET /api/v1/me", Access: RequireAuth(), Handler: s.handleMe},
		{Pattern: "GET /api/v1/tokens", Access: RequireAuth(), Handler: s.handleListTokens},
		{Pattern: "POST /api/v1/tokens", Access: RequirePermission(combine.PermCredentialsManage), Handler: s.handleCreateToken},
		// Owner, or user:manage: checked by the service (404 otherwise).
		{Pattern: "DELETE /api/v1/tokens/{id}", Access: RequirePermission(combine.PermCredentialsManage), Handler: s.handleRevokeToken},
		{Pattern: "GET /api/v1/sessions", Access: RequireAuth(), Handler: s.handleListSessions},
		{Pattern: "DELETE /api/v1/sessions/{id}", Access: RequirePermission(combine.PermCredentialsManage), Handler: s.handleRevokeSession},
		{Pattern: "POST /api/v1/sessions/revoke-all", Access: RequirePermission(combine.PermCredentialsManage), Handler: s.handleRevokeAllSessions},
		{Pattern: "GET /api/v1/users", Access: RequirePermission(combine.PermUserManage), Handler: s.handleListUsers},
		{Pattern: "POST /api/v1/users", Access: RequirePermission(combine.PermUserManage), Handler: s.handleCreateUser},
		{Pattern: "GET /api/v1/users/{id}", Access: RequirePermission(combine.PermUserManage), Handler: s.handleGetUser},
		{Pattern: "PATCH /api/v1/users/{id}", Access: RequirePermission(combine.PermUserManage), Handler: s.handleUpdateUser},
		{Pattern: "GET /api/v1/audit", Access: RequirePermission(combine.PermAdmin), Handler: s.handleListAudit},

		// The workflow engine.
		{Pattern: "GET /api/v1/workflows", Access: RequirePermission(combine.PermWorkflowRead), Handler: s.handleListWorkflows},
		{Pattern: "GET /api/v1/workflows/{id}", Access: RequirePermission(combine.PermWorkflowRead), Handler: s.handleGetWorkflow},
		{Pattern: "POST /api/v1/workflows/{id}/executions", Access: RequirePermission(combine.PermWorkflowExecute), Handler: s.handleStartExecution},
		{Pattern: "GET /api/v1/executions", Access: RequirePermission(read), Handler: s.handleListExecutions},
		{Pattern: "GET /api/v1/executions/{id}", Access: RequirePermission(read), Handler: s.handleGetExecution},
		{Pattern: "GET /api/v1/executions/{id}/steps", Access: RequirePermission(read), Handler: s.handleListSteps},
		{Pattern: "GET /api/v1/executions/{id}/events", Access: RequirePermission(read), Handler: s.handleExecutionEvents, Stream: true},
		{Pattern: "POST /api/v1/executions/{id}/submissions", Access: RequirePermission(write), Handler: s.handleSubmitDocument},
		{Pattern: "POST /api/v1/executions/{id}/clarification", Access: RequirePermission(write), Handler: s.handleAnswerClarification},
		// The reviewer role is checked by the engine.
		{Pattern: "POST /api/v1/executions/{id}/acceptance", Access: RequirePermission(write), Handler: s.handleDecideAcceptance},
		{Pattern: "POST /api/v1/executions/{id}/retry", Access: RequirePermission(write), Handler: s.handleRetryExecution},
		{Pattern: "POST /api/v1/executions/{id}/cancel", Access: RequirePermission(combine.PermExecutionCancel), Handler: s.handleCancelExecution},
		// LLM costs: an execution's calls, and the ledger rolled up per
		// workflow, model and day.
		{Pattern: "GET /api/v1/executions/{id}/costs", Access: RequirePermission(read), Handler: s.handleExecutionCosts},
		{Pattern: "GET /api/v1/telemetry/summary", Access: RequirePermission(read), Handler: s.handleTelemetrySummary},
		{Pattern: "GET /api/v1/documents", Access: RequirePermission(read), Handler: s.handleListDocuments},
		{Pattern: "GET /api/v1/documents/{id}", Access: RequirePermission(read), Handler: s.handleGetDocument},
		{Pattern: "GET /api/v1/documents/{id}/versions", Access: RequirePermission(read), Handler: s.handleDocumentVersions},
	}
	if s.Pages != nil {
		rs = append(rs, s.Pages.Routes()...)
	}
	return append(rs, s.testRoutes...)
}

// Pages is the browser UI: its page routes (each marked Page, with its
// declared access like any route) and how the errors of page routes are
// rendered — an anonymous browser is sent to sign in, any other refusal
// or failure is a readable page with the request id.
type Pages interface {
	Routes() []Route
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
		if rt.Access.Kind == AccessPermission {
			if _, ok := combine.ParsePermission(string(rt.Access.Permission)); !ok {
				return fmt.Errorf("route %q requires an unknown permission %q", rt.Pattern, rt.Access.Permission)
			}
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
