package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/internal/testdb"
)

// TestRestartRecoversOrphanedJobs plays a process killed while working a
// job: the job row is left "running" under this instance's id. A new
// process with the same instance id takes it up at once, long before the
// rescue window, and the execution goes on from its recorded state.
func TestRestartRecoversOrphanedJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *engineConfig) { c.RescueAfter = time.Hour })
	ctx := context.Background()
	if err := h.svc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	id := h.start("acme").ID
	orphan := `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = $1`
	if testdb.Postgres() {
		orphan += `, attempted_by = ARRAY['test']`
	}
	if _, err := h.db.W.ExecContext(ctx, orphan, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}

	svc, err := engine.New(engine.Config{
		DB: h.db, Workflows: h.wfs, InstanceID: "test", RescueAfter: time.Hour,
		PollInterval: 20 * time.Millisecond, Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	h.svc = svc
	h.submit(admin, id, "discovery", doc("Discovery"))
	h.item(id, "backlog", combine.WorkInput)
	if evs := h.events(id); evs[0] != combine.EventExecutionStarted || len(evs) != 7 {
		t.Fatalf("events = %v", evs)
	}
}
