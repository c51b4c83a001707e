package server

import (
	"errors"
	"strings"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/login"
)

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

// LoginDeps are the OAuth/OpenID Connect login providers.
type LoginDeps struct {
	// Service runs the sign-in flows; nil when no provider is configured
	// (the sign-in page then explains sign-in links).
	Service *login.Service
}

// EngineDeps are the workflow engine's services.
type EngineDeps struct {
	Workflows  combine.WorkflowService
	Executions combine.ExecutionService
	Documents  combine.DocumentService
	Events     combine.EventService
	Steps      combine.StepService
	// Costs reads the LLM cost ledger (present whether or not an LLM
	// provider is configured); Progress feeds live progress of LLM calls
	// to event streams (nil: no LLM worker, no progress).
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

// checkDeps refuses to build a handler for a server that lacks a
// dependency its routes call: better a start-up error than a route that
// answers 500 at request time. Only the login providers and the LLM
// progress feed are optional.
func (s *Server) checkDeps() error {
	var missing []string
	need := func(ok bool, name string) {
		if !ok {
			missing = append(missing, name)
		}
	}
	need(s.health != nil, "health checker")
	need(s.Authn != nil, "Authn")
	id := s.Identity
	need(id.Login != nil, "Identity.Login")
	need(id.Users != nil, "Identity.Users")
	need(id.Sessions != nil, "Identity.Sessions")
	need(id.Tokens != nil, "Identity.Tokens")
	need(id.Links != nil, "Identity.Links")
	need(id.Audit != nil, "Identity.Audit")
	e := s.Engine
	need(e.Workflows != nil, "Engine.Workflows")
	need(e.Executions != nil, "Engine.Executions")
	need(e.Documents != nil, "Engine.Documents")
	need(e.Events != nil, "Engine.Events")
	need(e.Steps != nil, "Engine.Steps")
	need(e.Costs != nil, "Engine.Costs")
	if len(missing) > 0 {
		return errors.New("server: missing dependencies: " + joinComma(missing))
	}
	return nil
}

func joinComma(ss []string) string { return strings.Join(ss, ", ") }
