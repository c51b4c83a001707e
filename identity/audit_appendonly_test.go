package identity_test

import (
	"strings"
	"testing"

	"github.com/thecombine/combine"
)

// TestAuditLogIsAppendOnlyInTheDatabase: the database itself refuses to
// change or remove audit entries, whatever statement reaches it.
func TestAuditLogIsAppendOnlyInTheDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.svc.RecordAudit(e.ctx, combine.AuditEntry{Actor: "cli", Action: "test.append_only", Outcome: "success"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE audit_log SET outcome = 'failure' WHERE action = 'test.append_only'`,
		`DELETE FROM audit_log WHERE action = 'test.append_only'`,
	} {
		_, err := e.db.W.ExecContext(e.ctx, q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: error = %v, want the append-only refusal", q, err)
		}
	}
	var n int
	if err := e.db.R.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM audit_log WHERE action = 'test.append_only' AND outcome = 'success'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("entry after the refused changes: %d rows (%v), want it intact", n, err)
	}
}
