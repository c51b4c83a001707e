package events_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func received(ch <-chan struct{}, within time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(within):
		return false
	}
}

func TestWakeReachesOnlyThatExecution(t *testing.T) {
	t.Parallel()
	n := events.NewNotifier(testdb.Open(t), discard())
	a, cancelA := n.Subscribe("exe_a")
	b, cancelB := n.Subscribe("exe_b")
	defer cancelB()
	if got := n.Subscribers(); got != 2 {
		t.Fatalf("Subscribers = %d, want 2", got)
	}
	n.Wake("exe_a")
	n.Wake("exe_a") // coalesced with the first
	if !received(a, time.Second) {
		t.Fatal("stream of exe_a was not woken")
	}
	if received(a, 20*time.Millisecond) {
		t.Fatal("two wake-ups before a read should coalesce into one")
	}
	if received(b, 20*time.Millisecond) {
		t.Fatal("stream of exe_b was woken by an event of exe_a")
	}
	cancelA()
	cancelA() // idempotent
	if got := n.Subscribers(); got != 1 {
		t.Fatalf("Subscribers after cancel = %d, want 1", got)
	}
	n.Wake("exe_a") // no subscriber left: must not block or panic
}

// TestNotifyCrossesConnections plays two instances on one PostgreSQL
// database: the NOTIFY sent in a transaction on one reaches the listener
// of the other at commit, and never on rollback.
func TestNotifyCrossesConnections(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("LISTEN/NOTIFY needs PostgreSQL (set " + testdb.EnvPostgres + ")")
	}
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	open := func() *sqldb.DB {
		db, err := sqldb.Open(ctx, url, 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	writer, reader := open(), open()

	n := events.NewNotifier(reader, discard())
	n.Poll = time.Hour // LISTEN alone: the poller must not wake anyone here
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	wake, cancel := n.Subscribe("exe_1")
	defer cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := n.Check(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("notifier did not start listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
	received(wake, 50*time.Millisecond) // drain the wake-up sent on connect

	notify := func(commit bool) {
		errRollback := errors.New("rollback")
		err := writer.WithTx(ctx, func(tx *sql.Tx) error {
			if err := events.Notify(ctx, tx, writer.Dialect, "exe_1"); err != nil {
				return err
			}
			if !commit {
				return errRollback
			}
			return nil
		})
		if err != nil && !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
	}
	notify(false)
	if received(wake, 300*time.Millisecond) {
		t.Fatal("a rolled-back transaction woke the stream")
	}
	notify(true)
	if !received(wake, 5*time.Second) {
		t.Fatal("the committed notification did not reach the other instance")
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestNotifierReconnects: when the LISTEN connection is killed, the
// notifier wakes every stream (notifications may have been missed) and
// listens again, delivering later notifications.
func TestNotifierReconnects(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("LISTEN/NOTIFY needs PostgreSQL (set " + testdb.EnvPostgres + ")")
	}
	t.Parallel()
	ctx := context.Background()
	db := testdb.Open(t)
	n := events.NewNotifier(db, discard())
	n.Retry = 50 * time.Millisecond
	n.Poll = time.Hour // LISTEN alone: the poller must not wake anyone here
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	wake, cancel := n.Subscribe("exe_r")
	defer cancel()
	listening := func() bool { _, err := n.Check(ctx); return err == nil }
	deadline := time.Now().Add(10 * time.Second)
	for !listening() {
		if time.Now().After(deadline) {
			t.Fatal("notifier did not start listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
	received(wake, 50*time.Millisecond)

	var killed int
	if err := db.R.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, events.ApplicationName).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminating the listener: %d terminated, %v", killed, err)
	}
	if !received(wake, 5*time.Second) {
		t.Fatal("streams were not woken after the listener reconnected")
	}
	if !listening() {
		t.Fatal("notifier is not listening after the reconnection")
	}
	err := db.WithTx(ctx, func(tx *sql.Tx) error { return events.Notify(ctx, tx, db.Dialect, "exe_r") })
	if err != nil {
		t.Fatal(err)
	}
	if !received(wake, 5*time.Second) {
		t.Fatal("a notification after the reconnection was not delivered")
	}
}

func TestNotifierMetrics(t *testing.T) {
	t.Parallel()
	n := events.NewNotifier(testdb.Open(t), discard())
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collectors()...)
	_, c1 := n.Subscribe("exe_m")
	_, c2 := n.Subscribe("exe_n")
	defer c2()
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "combine_event_subscriptions" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("combine_event_subscriptions is not exported")
		return 0
	}
	if g := gauge(); g != 2 {
		t.Fatalf("subscriptions gauge = %v, want 2", g)
	}
	c1()
	if g := gauge(); g != 1 {
		t.Fatalf("subscriptions gauge after one ended = %v, want 1", g)
	}
}
