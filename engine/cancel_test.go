package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/engine/enginetest"
	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// TestCancelReachesAWorkerOnAnotherInstance: instance A works a step with
// a worker that waits for its context; instance B cancels. A's call ends
// through the event notifier's wake-up, not the (here hour-long) poll.
func TestCancelReachesAWorkerOnAnotherInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	open := func() *sqldb.DB {
		db, err := sqldb.Open(ctx, url, 5)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA := open()
	if _, err := dbA.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := engine.Migrate(ctx, dbA); err != nil {
		t.Fatal(err)
	}
	dbB := dbA
	if testdb.Postgres() {
		dbB = open() // a second instance: its own pools and LISTEN connection
	}
	notifier := func(db *sqldb.DB) *events.Notifier {
		n := events.NewNotifier(db, discardLogger())
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Stop(context.Background()) })
		return n
	}
	nA := notifier(dbA)
	nB := nA
	if dbB != dbA {
		nB = notifier(dbB)
	}
	called, ended := make(chan struct{}, 1), make(chan error, 1)
	worker := &funcWorker{fn: func(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
		called <- struct{}{}
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	}}
	wfs := enginetest.Registry(t)
	a, err := engine.New(engine.Config{
		DB: dbA, Workflows: wfs, Worker: worker, InstanceID: "a", Logger: discardLogger(),
		PollInterval: 10 * time.Millisecond, CancelPoll: time.Hour, StepTimeout: time.Minute, RescueAfter: 2 * time.Hour,
		Subscribe: nA.Subscribe, OnEvent: nA.Wake,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	b, err := engine.New(engine.Config{DB: dbB, Workflows: wfs, InstanceID: "b", Logger: discardLogger(), OnEvent: nB.Wake})
	if err != nil {
		t.Fatal(err)
	}

	e, err := b.StartExecution(admin, combine.StartExecution{WorkflowID: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-called:
	case <-time.After(waitLimit):
		t.Fatal("instance A never called its worker")
	}
	if _, err := b.CancelExecution(admin, e.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(waitLimit):
		t.Fatal("the worker call on instance A was not cancelled")
	}
}
