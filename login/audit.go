package login

import (
	"context"

	"github.com/thecombine/combine"
)

// AuditFailures returns an Options.OnFailure that records sign-ins refused
// in the protocol (before any identity was known: bad state, unverifiable
// ID token…) in the audit log, shaped like the refusals the login service
// records itself; repeats from one client are aggregated (and so is the
// log line) by RecordFailure.
func AuditFailures(a combine.AuditService) func(ctx context.Context, provider, reason string) {
	return func(ctx context.Context, provider, reason string) {
		a.RecordFailure(ctx, combine.AuditEntry{
			Actor:   "anonymous",
			Action:  combine.AuditLoginFailure,
			Outcome: combine.OutcomeFailure,
			Reason:  reason,
			Details: map[string]any{"provider": provider},
		})
	}
}
