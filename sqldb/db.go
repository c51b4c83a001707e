// Package sqldb opens The Combine's database — the embedded SQLite file or
// a PostgreSQL server — applies the embedded migrations and offers the
// small helpers that keep one set of SQL working on both dialects.
//
// Conventions every store follows so that one query text runs on both:
// positional placeholders $1, $2…; TEXT identifiers generated in Go;
// timestamps stored as fixed-width UTC text (see Time), which sorts and
// compares correctly as text; BOOLEAN columns; JSON documents as TEXT.
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Dialect names the SQL engine behind a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database. On SQLite, writes go through W, a pool of one
// connection (SQLite has a single writer; queueing in Go beats SQLITE_BUSY),
// and reads through R, a pool of read-only connections. On PostgreSQL both
// are the same pool.
type DB struct {
	Dialect Dialect
	W       *sql.DB
	R       *sql.DB
	// Pool is the pgx pool on PostgreSQL (nil on SQLite), for components
	// that speak pgx natively such as LISTEN/NOTIFY.
	Pool *pgxpool.Pool
	// Path is the SQLite file path (empty on PostgreSQL).
	Path string
}

// Open connects to the database named by a DATABASE_URL.
func Open(ctx context.Context, databaseURL string, poolSize int) (*DB, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	switch u.Scheme {
	case "sqlite":
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("sqlite URL %q: query parameters are not supported (pragmas are set by the server)", databaseURL)
		}
		return openSQLite(ctx, sqlitePath(u), poolSize)
	case "postgres", "postgresql":
		return openPostgres(ctx, databaseURL, poolSize)
	}
	return nil, fmt.Errorf("unsupported database scheme %q", u.Scheme)
}

// sqlitePath maps sqlite:///./rel.db to "./rel.db" and sqlite:///abs.db to
// "/abs.db".
func sqlitePath(u *url.URL) string {
	p := u.Path
	if u.Opaque != "" {
		p = u.Opaque
	}
	if strings.HasPrefix(p, "/./") || strings.HasPrefix(p, "/../") {
		return p[1:]
	}
	return "/" + strings.TrimLeft(p, "/")
}

func openSQLite(ctx context.Context, path string, poolSize int) (*DB, error) {
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("open sqlite %s: directory %s does not exist", path, filepath.Dir(path))
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite %s: the path must not contain ? or #", path)
	}
	// A new database file is readable by its owner only (it holds session
	// and token hashes and the audit log); SQLite gives the -wal and -shm
	// files the database file's mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	} else if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	const pragmas = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	wc, err := newCachingConnector("file:" + path + "?_pragma=journal_mode(WAL)&" + pragmas + "&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	w := sql.OpenDB(wc)
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	rc, err := newCachingConnector("file:" + path + "?" + pragmas + "&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite reader: %w", err)
	}
	r := sql.OpenDB(rc)
	n := max(poolSize, 2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &DB{Dialect: SQLite, W: w, R: r, Path: path}, nil
}

func openPostgres(ctx context.Context, databaseURL string, poolSize int) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	cfg.MaxConns = int32(poolSize)
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	return &DB{Dialect: Postgres, W: db, R: db, Pool: pool}, nil
}

// Close releases every connection.
func (db *DB) Close() error {
	err := db.W.Close()
	if db.R != db.W {
		if rerr := db.R.Close(); err == nil {
			err = rerr
		}
	}
	if db.Pool != nil {
		db.Pool.Close()
	}
	return err
}

// Ping checks that the database answers a query (used by health checks).
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.R.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping %s: %w", db.Dialect, err)
	}
	return nil
}

// WithTx runs fn in a write transaction, committing when it returns nil
// and rolling back otherwise. fn must use tx only: on SQLite the writer
// pool has one connection, which tx holds.
func (db *DB) WithTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
