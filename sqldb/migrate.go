package sqldb

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

func (db *DB) provider() (*goose.Provider, error) {
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithGoMigrations(goMigrations(db.Dialect)...)}
	if db.Dialect == Postgres {
		// Poll for the advisory lock every second for up to 5 minutes (the
		// default polls every 5 s, which slows every instance but the first).
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.W, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration and returns the schema version.
// It is idempotent. Instances starting together do not race: on
// PostgreSQL goose holds an advisory lock, on SQLite a file lock beside
// the database serializes the processes sharing the file.
func (db *DB) Migrate(ctx context.Context) (int64, error) {
	p, err := db.provider()
	if err != nil {
		return 0, err
	}
	if db.Dialect == SQLite {
		unlock, err := lockFile(ctx, db.Path+".migrate-lock")
		if err != nil {
			return 0, err
		}
		defer unlock()
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	return p.GetDBVersion(ctx)
}

// MigrateTo applies the pending migrations up to and including version
// (an upgrade test starts from an older schema with it).
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("apply migrations up to %d: %w", version, err)
	}
	return nil
}

// SchemaVersion returns the applied schema version and the newest version
// this binary knows. It reads through R with one query, so that a health
// probe never waits for SQLite's single writer connection.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	latest, err = LatestVersion()
	if err != nil {
		return 0, 0, err
	}
	err = db.R.QueryRowContext(ctx,
		"SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&current)
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	return current, latest, nil
}

// LatestVersion is the version of the newest embedded migration (SQL or Go).
func LatestVersion() (int64, error) {
	vs, err := Versions()
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, v := range vs {
		latest = max(latest, v)
	}
	return latest, nil
}

// Versions lists the version of every embedded migration (SQL or Go).
// Numbers may have gaps: branches reserve numbers for migrations that
// land later.
func Versions() ([]int64, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []int64
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", e.Name())
		}
		out = append(out, v)
	}
	return append(out, goMigrationVersions...), nil
}
