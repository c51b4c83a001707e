package server

// LoginDeps are the OAuth/OpenID Connect login providers.
type LoginDeps struct{}

// loginRoutes is the browser login route table.
func (s *Server) loginRoutes() []Route {
	return nil
}
