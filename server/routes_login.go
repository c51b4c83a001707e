package server

import "github.com/thecombine/combine/login"

// LoginDeps are the OAuth/OpenID Connect login providers.
type LoginDeps struct {
	// Service runs the sign-in flows; nil when no provider is configured
	// (the sign-in page then explains sign-in links).
	Service *login.Service
}

// loginRoutes is the browser login route table. Every route is public:
// these pages are how one gets credentials, and a stale session cookie
// must never stand in the way of signing in again.
func (s *Server) loginRoutes() []Route {
	return []Route{
		{Pattern: "GET /auth/login", Access: Public(), Handler: s.handleLoginPage},
		{Pattern: "GET /auth/login/{provider}", Access: Public(), Handler: s.handleLoginStart},
		{Pattern: "GET /auth/callback/{provider}", Access: Public(), Handler: s.handleLoginCallback},
	}
}
