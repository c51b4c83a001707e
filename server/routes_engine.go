package server

import (
	"time"

	"github.com/thecombine/combine"
)

// EngineDeps are the workflow engine's services.
type EngineDeps struct {
	Workflows  combine.WorkflowService
	Executions combine.ExecutionService
	Documents  combine.DocumentService
	Events     combine.EventService
	Steps      combine.StepService
	// Costs reads the LLM cost ledger; Progress feeds live progress of
	// LLM calls to event streams (nil: none).
	Costs    combine.CostService
	Progress combine.ProgressSource

	// EventWaker wakes event streams early (nil: they only poll).
	EventWaker EventWaker
	// EventPoll is how often a stream re-reads the log without a wake-up
	// (default 500ms, 5s while the waker listens on PostgreSQL);
	// EventKeepalive how often an idle stream sends a comment (15s).
	EventPoll      time.Duration
	EventKeepalive time.Duration
}

// engineRoutes is the workflow engine's route table.
func (s *Server) engineRoutes() []Route {
	return append([]Route{
		{Pattern: "GET /api/v1/workflows", Access: RequirePermission(combine.PermWorkflowRead), Handler: s.handleListWorkflows},
		{Pattern: "GET /api/v1/workflows/{id}", Access: RequirePermission(combine.PermWorkflowRead), Handler: s.handleGetWorkflow},
		{Pattern: "GET /api/v1/executions/{id}/events", Access: RequirePermission(combine.PermExecutionRead), Handler: s.handleExecutionEvents, Stream: true},
	}, s.executionRoutes()...)
}
