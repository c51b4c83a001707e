package server

// IdentityDeps are the identity area's services: users, sessions, tokens,
// sign-in links and the audit log.
type IdentityDeps struct{}

// identityRoutes is the identity area's route table.
func (s *Server) identityRoutes() []Route {
	return nil
}
