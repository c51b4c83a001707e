package login

import (
	"context"
	"log/slog"

	"github.com/thecombine/combine"
)

// AuditFailures returns an Options.OnFailure that records sign-ins refused
// in the protocol (before any identity was known: bad state, unverifiable
// ID token…) in the audit log, shaped like the refusals the login service
// records itself.
func AuditFailures(a combine.AuditService, logger *slog.Logger) func(ctx context.Context, provider, reason string) {
	return func(ctx context.Context, provider, reason string) {
		err := a.RecordAudit(ctx, combine.AuditEntry{
			Actor:   "anonymous",
			Action:  combine.AuditLoginFailure,
			Outcome: combine.OutcomeFailure,
			Reason:  reason,
			Details: map[string]any{"provider": provider},
		})
		if err != nil {
			logger.WarnContext(ctx, "audit sign-in failure", "error", err.Error())
		}
	}
}
