package server

import "github.com/thecombine/combine"

// IdentityDeps are the identity area's services: users, sessions, tokens,
// sign-in links and the audit log. The login area signs people in through
// Login.
type IdentityDeps struct {
	Login    combine.LoginService
	Users    combine.UserService
	Sessions combine.SessionService
	Tokens   combine.TokenService
	Links    combine.LinkService
	Audit    combine.AuditService
}

// identityRoutes is the identity area's route table.
func (s *Server) identityRoutes() []Route {
	if s.Identity.Users == nil {
		return nil
	}
	return []Route{
		{Pattern: "GET /api/v1/me", Access: RequireAuth(), Handler: s.handleMe},

		{Pattern: "GET /api/v1/tokens", Access: RequireAuth(), Handler: s.handleListTokens},
		{Pattern: "POST /api/v1/tokens", Access: RequireAuth(), Handler: s.handleCreateToken},
		{Pattern: "DELETE /api/v1/tokens/{id}", Access: RequireAuth(), Handler: s.handleRevokeToken},

		{Pattern: "GET /api/v1/sessions", Access: RequireAuth(), Handler: s.handleListSessions},
		{Pattern: "DELETE /api/v1/sessions/{id}", Access: RequireAuth(), Handler: s.handleRevokeSession},
		{Pattern: "POST /api/v1/sessions/revoke-all", Access: RequireAuth(), Handler: s.handleRevokeAllSessions},

		{Pattern: "GET /api/v1/users", Access: RequirePermission(combine.PermUserManage), Handler: s.handleListUsers},
		{Pattern: "POST /api/v1/users", Access: RequirePermission(combine.PermUserManage), Handler: s.handleCreateUser},
		{Pattern: "GET /api/v1/users/{id}", Access: RequirePermission(combine.PermUserManage), Handler: s.handleGetUser},
		{Pattern: "PATCH /api/v1/users/{id}", Access: RequirePermission(combine.PermUserManage), Handler: s.handleUpdateUser},

		{Pattern: "GET /api/v1/audit", Access: RequirePermission(combine.PermAdmin), Handler: s.handleListAudit},

		// One-time sign-in links: GET shows a confirmation page (link
		// scanners prefetch GETs, so it must not use the link up); POST
		// consumes it.
		{Pattern: "GET /auth/link/{secret}", Access: Public(), Handler: s.handleLinkPage, SecretPath: true},
		{Pattern: "POST /auth/link/{secret}", Access: Public(), Handler: s.handleLinkSubmit, SecretPath: true},
		{Pattern: "POST /auth/logout", Access: Optional(), Handler: s.handleLogout},
	}
}
