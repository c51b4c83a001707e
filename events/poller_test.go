package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// TestPollerWakesOnlyMovedLogs: the process's one poller wakes a stream
// when it first sees its execution (the stream may have started just
// before an append), then only when that execution's log grows — on both
// databases, with no notification involved.
func TestPollerWakesOnlyMovedLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testdb.Open(t)
	for _, id := range []string{"exe_a", "exe_b"} {
		insertExecution(t, db, id)
	}
	n := events.NewNotifier(db, discard())
	n.Poll = 20 * time.Millisecond
	a, cancelA := n.Subscribe("exe_a")
	defer cancelA()
	b, cancelB := n.Subscribe("exe_b")
	defer cancelB()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	if !n.Polling() {
		t.Fatal("the poller does not run after Start")
	}
	if !received(a, 5*time.Second) || !received(b, 5*time.Second) {
		t.Fatal("the first poll did not wake both streams")
	}
	// Nothing moves: nothing wakes (on PostgreSQL the LISTEN connection
	// wakes everyone once when it connects; drain that first).
	time.Sleep(200 * time.Millisecond)
	received(a, 10*time.Millisecond)
	received(b, 10*time.Millisecond)
	if received(a, 200*time.Millisecond) || received(b, 10*time.Millisecond) {
		t.Fatal("a poll woke a stream whose log did not move")
	}
	if _, err := db.W.ExecContext(ctx, `INSERT INTO execution_events (execution_id, seq, type, data, created_at)
		VALUES ('exe_a', 1, 'execution_started', '{}', $1)`, sqldb.Time(time.Now())); err != nil {
		t.Fatal(err)
	}
	if !received(a, 5*time.Second) {
		t.Fatal("the stream of the execution whose log grew was not woken")
	}
	if received(b, 200*time.Millisecond) {
		t.Fatal("the stream of another execution was woken")
	}
	if err := n.Stop(ctx); err != nil || n.Polling() {
		t.Fatalf("Stop: %v, polling %v", err, n.Polling())
	}
}

func insertExecution(t *testing.T, db *sqldb.DB, id string) {
	t.Helper()
	now := sqldb.Time(time.Now())
	if _, err := db.W.ExecContext(context.Background(), `INSERT INTO executions (id, workflow_id, workflow_revision, project_id, inputs,
		status, created_by, created_at, updated_at) VALUES ($1, 'w', 'r1', 'p', '{}', 'running', 'usr_1', $2, $2)`, id, now); err != nil {
		t.Fatal(err)
	}
}
