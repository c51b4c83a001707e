// Package testdb gives each test a fresh, migrated database: a SQLite file
// in the test's temporary directory, or — when COMBINE_TEST_POSTGRES_URL
// points at a PostgreSQL server — a new database on that server, so that
// the same suites run against both dialects.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/thecombine/combine/sqldb"
)

// EnvPostgres names the variable holding the admin URL of the test server.
const EnvPostgres = "COMBINE_TEST_POSTGRES_URL"

// Postgres reports whether tests run against PostgreSQL.
func Postgres() bool { return os.Getenv(EnvPostgres) != "" }

// URL creates an empty database and returns its DATABASE_URL. It is
// dropped when the test ends (PostgreSQL) or removed with the temp dir.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		return "sqlite://" + filepath.Join(t.TempDir(), "combine.db")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testdb: connect %s: %v", EnvPostgres, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testdb: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open returns a migrated database for the test, closed at cleanup.
func Open(t testing.TB) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), URL(t), 5)
	if err != nil {
		t.Fatalf("testdb: open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("testdb: migrate: %v", err)
	}
	return db
}

// Name describes the dialect in use, for test output.
func Name() string {
	if Postgres() {
		return "postgres"
	}
	return "sqlite"
}
