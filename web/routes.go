package web

import (
	"github.com/thecombine/combine"
	"github.com/thecombine/combine/server"
)

// Routes is the web UI's part of the server's route table: every page and
// form post with the access it needs, read top to bottom. The server
// enforces the access before a handler runs; handlers and templates only
// hide what a caller may not do. Buttons a reviewer role qualifies
// (acceptance) are checked again by the engine.
func (ui *UI) Routes() []server.Route {
	auth := server.RequireAuth()
	perm := server.RequirePermission
	rs := []server.Route{
		{Pattern: "GET /static/{file...}", Access: server.Public(), Handler: ui.handleStatic},

		{Pattern: "GET /{$}", Access: auth, Handler: ui.handleDashboard},

		{Pattern: "GET /workflows", Access: perm(combine.PermWorkflowRead), Handler: ui.handleWorkflows},
		{Pattern: "GET /workflows/{id}", Access: perm(combine.PermWorkflowRead), Handler: ui.handleWorkflow},
		{Pattern: "POST /workflows/{id}/executions", Access: perm(combine.PermWorkflowExecute), Handler: ui.handleStart},

		{Pattern: "GET /executions", Access: perm(combine.PermExecutionRead), Handler: ui.handleExecutions},
		{Pattern: "GET /executions/{id}", Access: perm(combine.PermExecutionRead), Handler: ui.handleExecution},
		{Pattern: "POST /executions/{id}/submissions", Access: perm(combine.PermExecutionWrite), Handler: ui.handleSubmit},
		{Pattern: "POST /executions/{id}/clarification", Access: perm(combine.PermExecutionWrite), Handler: ui.handleAnswer},
		{Pattern: "POST /executions/{id}/acceptance", Access: perm(combine.PermExecutionWrite), Handler: ui.handleDecide},
		{Pattern: "POST /executions/{id}/retry", Access: perm(combine.PermExecutionWrite), Handler: ui.handleRetry},
		{Pattern: "POST /executions/{id}/cancel", Access: perm(combine.PermExecutionCancel), Handler: ui.handleCancel},

		{Pattern: "GET /documents/{id}", Access: perm(combine.PermExecutionRead), Handler: ui.handleDocument},
		{Pattern: "GET /documents/{id}/diff", Access: perm(combine.PermExecutionRead), Handler: ui.handleDiff},

		{Pattern: "GET /settings/tokens", Access: auth, Handler: ui.handleTokens},
		{Pattern: "POST /settings/tokens", Access: auth, Handler: ui.handleCreateToken},
		{Pattern: "POST /settings/tokens/{id}/revoke", Access: auth, Handler: ui.handleRevokeToken},
		{Pattern: "GET /settings/sessions", Access: auth, Handler: ui.handleSessions},
		{Pattern: "POST /settings/sessions/{id}/revoke", Access: auth, Handler: ui.handleRevokeSession},
		{Pattern: "POST /settings/sessions/revoke-all", Access: auth, Handler: ui.handleRevokeAllSessions},

		{Pattern: "GET /admin/users", Access: perm(combine.PermUserManage), Handler: ui.handleUsers},
		{Pattern: "POST /admin/users", Access: perm(combine.PermUserManage), Handler: ui.handleCreateUser},
		{Pattern: "POST /admin/users/{id}", Access: perm(combine.PermUserManage), Handler: ui.handleUpdateUser},
		{Pattern: "GET /admin/audit", Access: perm(combine.PermAdmin), Handler: ui.handleAudit},
	}
	for i := range rs {
		rs[i].Page = true
	}
	return rs
}
