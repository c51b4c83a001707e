package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/engine/enginetest"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// TestUpgradeFromTheFirstEngine: an execution waiting for a person's
// submission under the first engine's schema (one current step, a pending
// object) is still workable after migration 00006: the engine rebuilds its
// work-item view at start and takes the submission.
func TestUpgradeFromTheFirstEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, testdb.URL(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	now := sqldb.Time(time.Now())
	ref := `{"step_id":"discovery","path":"discovery","scope_type":"project","scope_id":"old","attempt":1}`
	for _, q := range []string{
		`INSERT INTO executions (id, workflow_id, workflow_revision, project_id, inputs, status, current_step, pending,
			created_by, created_at, updated_at, started_at, last_seq)
			VALUES ('exe_old', 'tiny', 'r1', 'old', '{}', 'waiting_input', '` + ref + `',
			'{"kind":"input","step_id":"discovery","step_path":"discovery","attempt":1,"document_type":"discovery","scope_type":"project","scope_id":"old"}',
			'usr_admin', $1, $1, $1, 3)`,
		`INSERT INTO step_runs (id, execution_id, step_path, step_id, scope_type, scope_id, ref, status, attempts, created_at, updated_at)
			VALUES ('run_old', 'exe_old', 'discovery', 'discovery', 'project', 'old', '` + ref + `', 'running', 1, $1, $1)`,
		`INSERT INTO step_attempts (id, step_run_id, execution_id, step_path, attempt, idempotency_key, worker, status, started_at)
			VALUES ('att_old', 'run_old', 'exe_old', 'discovery', 1, 'exe_old/discovery#1', 'person', 'waiting_input', $1)`,
		`INSERT INTO execution_events (execution_id, seq, type, data, created_at) VALUES
			('exe_old', 1, 'execution_started', '{}', $1), ('exe_old', 2, 'step_started', '{}', $1), ('exe_old', 3, 'input_needed', '{}', $1)`,
	} {
		if _, err := db.W.ExecContext(ctx, q, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := engine.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	svc, err := engine.New(engine.Config{DB: db, Workflows: enginetest.Registry(t), Logger: discardLogger(), InstanceID: "upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	e, err := svc.FindExecution(ctx, "exe_old")
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != combine.StatusWaitingInput || len(e.Pending) != 1 || e.Pending[0].StepPath != "discovery" || e.Pending[0].Attempt != 1 {
		t.Fatalf("upgraded execution = %s %+v", e.Status, e.Pending)
	}
	if _, err := svc.SubmitDocument(admin, "exe_old", combine.Submission{StepPath: "discovery", Attempt: 1,
		Content: json.RawMessage(`{"title": "Discovery"}`)}); err != nil {
		t.Fatal(err)
	}
	e, _ = svc.FindExecution(ctx, "exe_old")
	if len(e.Pending) != 1 || e.Pending[0].StepPath != "backlog" {
		t.Fatalf("after the submission: %+v", e.Pending)
	}
	evs, _ := svc.ListEvents(ctx, "exe_old", 0, 100)
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("the log has a gap at %d", i+1)
		}
	}
}
