package events_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/internal/testdb"
)

// recorder is a Listener that records what it is told.
type recorder struct {
	mu       sync.Mutex
	payloads []string
	states   []string // "up", "down: <err>", "stopped"
}

func (r *recorder) Notify(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.payloads = append(r.payloads, p)
}

func (r *recorder) Listening(up bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case up:
		r.states = append(r.states, "up")
	case err != nil:
		r.states = append(r.states, "down")
	default:
		r.states = append(r.states, "stopped")
	}
}

func (r *recorder) snapshot() ([]string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.payloads...), append([]string(nil), r.states...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestNotifierListeners: another channel followed over the same LISTEN
// connection gets exactly its own committed notifications, in order, and
// is told when the connection is up, lost (killed) and back, and stopped.
// Heartbeats on a quiet connection (a timed-out wait, then a ping) leave
// it working.
func TestNotifierListeners(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("LISTEN/NOTIFY needs PostgreSQL (set " + testdb.EnvPostgres + ")")
	}
	t.Parallel()
	ctx := context.Background()
	db := testdb.Open(t)
	n := events.NewNotifier(db, discard())
	n.Retry = 50 * time.Millisecond
	n.Heartbeat = 30 * time.Millisecond
	rec := &recorder{}
	n.Listen("combine_test_channel", rec)
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	eventually(t, "the listener to be told the channel is up", func() bool { _, s := rec.snapshot(); return len(s) == 1 && s[0] == "up" })

	send := func(channel, payload string, commit bool) {
		t.Helper()
		errRollback := errors.New("rollback")
		err := db.WithTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
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
	// Several heartbeats pass on the quiet connection; it still delivers.
	eventually(t, "a heartbeat ping on the LISTEN connection", func() bool {
		var q string
		err := db.R.QueryRowContext(ctx, `SELECT query FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
			events.ApplicationName).Scan(&q)
		return err == nil && q == "-- ping"
	})
	send("combine_test_channel", "rolled back", false)
	send(events.Channel, "exe_1", true)
	send("combine_test_channel", "one", true)
	send("combine_test_channel", "two", true)
	eventually(t, "the notifications", func() bool { p, _ := rec.snapshot(); return len(p) >= 2 })
	time.Sleep(100 * time.Millisecond)
	if p, _ := rec.snapshot(); len(p) != 2 || p[0] != "one" || p[1] != "two" {
		t.Fatalf("payloads = %q, want [one two]: only the committed notifications of the channel, in order", p)
	}

	var killed int
	if err := db.R.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, events.ApplicationName).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminating the listener: %d terminated, %v", killed, err)
	}
	eventually(t, "down, then up again", func() bool {
		_, s := rec.snapshot()
		return len(s) >= 3 && s[1] == "down" && s[len(s)-1] == "up"
	})
	send("combine_test_channel", "three", true)
	eventually(t, "a notification after the reconnection", func() bool { p, _ := rec.snapshot(); return len(p) == 3 && p[2] == "three" })

	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, s := rec.snapshot(); s[len(s)-1] != "stopped" {
		t.Fatalf("states = %q, want the last to be stopped", s)
	}
}

// TestNotifierListenersSQLite: on SQLite nothing listens, and a listener
// is never told it is up (so a cache behind it stays bypassed).
func TestNotifierListenersSQLite(t *testing.T) {
	if testdb.Postgres() {
		t.Skip("SQLite only")
	}
	t.Parallel()
	n := events.NewNotifier(testdb.Open(t), discard())
	rec := &recorder{}
	n.Listen("combine_test_channel", rec)
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p, s := rec.snapshot(); len(p) != 0 || len(s) != 0 {
		t.Fatalf("on SQLite the listener heard %q %q", p, s)
	}
}
