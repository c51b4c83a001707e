package server

// AddTestRoutes adds routes that only tests need (a handler that panics,
// one that echoes its body…) to the route table, before Handler.
func (s *Server) AddTestRoutes(rs ...Route) { s.testRoutes = append(s.testRoutes, rs...) }
