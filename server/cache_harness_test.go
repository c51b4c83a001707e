package server_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/sqldb"
)

// startCredentialCache connects svc's credential cache to its
// invalidation feed as cmd/combine does — the process's LISTEN connection
// on PostgreSQL, the audit log on SQLite — and waits until it is live.
// It returns the notifier (nil on SQLite).
func startCredentialCache(t testing.TB, db *sqldb.DB, svc *identity.Service, logger *slog.Logger) *events.Notifier {
	t.Helper()
	ctx := context.Background()
	cache := svc.Cache()
	var n *events.Notifier
	if db.Dialect == sqldb.Postgres {
		n = events.NewNotifier(db, logger)
		// Long enough for a test that cuts the connection to see the
		// cache bypassed, short enough to see it come back.
		n.Retry = time.Second
		n.Listen(identity.NotifyChannel, cache)
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Stop(context.Background()) })
	}
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Stop(context.Background()) })
	for deadline := time.Now().Add(10 * time.Second); !cache.Live(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the credential cache's invalidation feed did not come up")
		}
	}
	return n
}
