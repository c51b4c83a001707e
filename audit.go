package combine

import (
	"context"
	"time"
)

// Audit actions. The audit log is append-only: entries are never changed.
const (
	AuditLoginSuccess     = "login.success"
	AuditLoginFailure     = "login.failure"
	AuditLogout           = "logout"
	AuditSessionRevoke    = "session.revoke"
	AuditSessionRevokeAll = "session.revoke_all"
	AuditTokenCreate      = "token.create"
	AuditTokenRevoke      = "token.revoke"
	AuditUserCreate       = "user.create"
	AuditUserRoles        = "user.roles"
	AuditUserDisable      = "user.disable"
	AuditUserEnable       = "user.enable"
	AuditLinkCreate       = "link.create"
	AuditLinkUse          = "link.use"
	AuditPermissionDenied = "permission.denied"
	AuditExecutionRetry   = "execution.retry"
)

// AuditEntry is one record of the audit log. It never holds a secret.
type AuditEntry struct {
	ID string    `json:"audit_id"`
	At time.Time `json:"at"`
	// ActorID is the acting user's id; empty for the system, the CLI or an
	// unidentified caller (then Actor says who).
	ActorID string `json:"actor_id,omitempty"`
	// Actor is a human-readable actor: an email, "cli" or "system".
	Actor  string `json:"actor"`
	Action string `json:"action"`
	// Target is what was acted on (a user, session, token or link id, or a route).
	Target     string         `json:"target,omitempty"`
	Outcome    string         `json:"outcome"` // "success" or "failure"
	Reason     string         `json:"reason,omitempty"`
	ClientAddr string         `json:"client_addr,omitempty"`
	RequestID  string         `json:"request_id,omitempty"`
	Details    map[string]any `json:"details,omitempty"`
}

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	// Actor matches the actor's user id or its recorded name/email.
	Actor  string
	Action string
	Since  time.Time
	Until  time.Time
	// Before is the cursor: only entries older than this entry id.
	Before string
	Limit  int
}

// AuditService reads and appends the audit log.
type AuditService interface {
	// RecordAudit appends e, filling time, actor, client address and request
	// id from ctx when they are empty.
	RecordAudit(ctx context.Context, e AuditEntry) error
	// RecordFailure appends a refusal (outcome failure) the way
	// RecordAudit does, except that repeats of the same refusal from one
	// client within a window become one entry with their count, so that
	// a client looping on a refused request cannot flood the log. It
	// logs its own errors: a refusal must not fail because of its audit.
	RecordFailure(ctx context.Context, e AuditEntry)
	// FindAudit returns entries newest first and the cursor of the next
	// page ("" when there is none).
	FindAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, string, error)
}
