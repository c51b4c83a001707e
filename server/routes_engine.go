package server

import "github.com/thecombine/combine"

// EngineDeps are the workflow engine's services.
type EngineDeps struct {
	Workflows combine.WorkflowService
}

// engineRoutes is the workflow engine's route table.
func (s *Server) engineRoutes() []Route {
	return nil
}
