package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testdb.Open(t) // migrated once already
	latest, err := sqldb.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		v, err := db.Migrate(ctx)
		if err != nil || v != latest {
			t.Fatalf("Migrate #%d on %s = %d, %v; want %d", i+2, testdb.Name(), v, err, latest)
		}
	}
	cur, lat, err := db.SchemaVersion(ctx)
	if err != nil || cur != latest || lat != latest {
		t.Fatalf("SchemaVersion = %d/%d, %v", cur, lat, err)
	}
	var n int
	versions, err := sqldb.Versions()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.R.QueryRowContext(ctx, "SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0").Scan(&n); err != nil || n != len(versions) {
		t.Errorf("%d applied rows (%v), want one per migration (%d)", n, err, len(versions))
	}
}

func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	latest, _ := sqldb.LatestVersion()
	// Several instances start at once against one database.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		db, err := sqldb.Open(ctx, url, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		wg.Go(func() {
			v, err := db.Migrate(ctx)
			if err == nil && v != latest {
				t.Errorf("instance %d at version %d", i, v)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
}

func TestWriteAndReadBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testdb.Open(t)
	if err := db.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO instance_meta (key, value, updated_at) VALUES ($1, $2, $3)", "k", "v", sqldb.Time(time.Now()))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var v string
	var at time.Time
	if err := db.R.QueryRowContext(ctx, "SELECT value, updated_at FROM instance_meta WHERE key = $1", "k").Scan(&v, sqldb.TimeDest{T: &at}); err != nil || v != "v" || time.Since(at) > time.Minute {
		t.Fatalf("read back %q %v: %v", v, at, err)
	}
	// A failed transaction leaves nothing behind.
	boom := errors.New("boom")
	if err := db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE instance_meta SET value = $1 WHERE key = $2", "changed", "k"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("WithTx = %v", err)
	}
	if err := db.R.QueryRowContext(ctx, "SELECT value FROM instance_meta WHERE key = $1", "k").Scan(&v); err != nil || v != "v" {
		t.Errorf("after rollback: %q %v", v, err)
	}
	if db.Dialect == sqldb.SQLite {
		if _, err := db.R.ExecContext(ctx, "DELETE FROM instance_meta"); err == nil {
			t.Error("the SQLite read pool accepted a write")
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, url := range []string{
		"sqlite://" + dir + "/missing/combine.db",
		"sqlite://" + dir + "/odd?name.db",
		"mysql://localhost/db",
		"postgres://nobody@127.0.0.1:1/none?connect_timeout=1",
	} {
		if db, err := sqldb.Open(context.Background(), url, 2); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}
