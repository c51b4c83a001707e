package sqldb_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/thecombine/combine/sqldb"
)

// TestStatementCache: SQLite connections reuse prepared statements. The
// same query run inside an iteration over its own rows gets a statement of
// its own; a reader sees a writer's commit at once (a cached statement
// holds no snapshot between uses); a statement survives a schema change.
func TestStatementCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "c.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.W.ExecContext(ctx, `CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO kv (k, v) VALUES ($1, $2)`
	for i := range 5 {
		if _, err := db.W.ExecContext(ctx, insert, i, "v"); err != nil {
			t.Fatal(err)
		}
	}
	const list = `SELECT k FROM kv WHERE k >= $1 ORDER BY k`
	count := func(from int) int {
		t.Helper()
		rows, err := db.R.QueryContext(ctx, list, from)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
		}
		return n
	}
	// The same query nested in an iteration over its own rows, on the
	// writer's single connection inside one transaction.
	tx, err := db.W.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := tx.QueryContext(ctx, list, 0)
	if err != nil {
		t.Fatal(err)
	}
	pairs := 0
	for outer.Next() {
		var k int
		if err := outer.Scan(&k); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, list, k)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			pairs++
		}
		inner.Close()
	}
	outer.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if pairs != 15 { // 5+4+3+2+1
		t.Fatalf("nested iteration saw %d pairs, want 15", pairs)
	}
	// A reader's cached statement sees the writer's commit at once.
	if n := count(0); n != 5 {
		t.Fatalf("count = %d, want 5", n)
	}
	if _, err := db.W.ExecContext(ctx, insert, 9, "v"); err != nil {
		t.Fatal(err)
	}
	if n := count(0); n != 6 {
		t.Fatalf("after a commit the reader counts %d, want 6", n)
	}
	// A cached statement still works after the schema changed.
	if _, err := db.W.ExecContext(ctx, `ALTER TABLE kv ADD COLUMN extra TEXT`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.W.ExecContext(ctx, insert, 10, "v"); err != nil {
		t.Fatal(err)
	}
	if n := count(0); n != 7 {
		t.Fatalf("after a schema change the reader counts %d, want 7", n)
	}
	// Errors still surface: a failing statement and then a good one.
	if _, err := db.W.ExecContext(ctx, insert, 10, "dup"); err == nil {
		t.Fatal("a duplicate key was accepted")
	}
	if _, err := db.W.ExecContext(ctx, insert, 11, "v"); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCachedQuery measures a small indexed read through the cache.
func BenchmarkCachedQuery(b *testing.B) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:///"+filepath.Join(b.TempDir(), "c.db"), 2)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.W.ExecContext(ctx, `CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL, w TEXT, x TEXT)`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.W.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (1, 'one')`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		var v string
		if err := db.R.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = $1 AND (w IS NULL OR w = $2) AND (x IS NULL OR x <> $3)`, 1, "a", "b").Scan(&v); err != nil {
			b.Fatal(err)
		}
	}
}
