package testdb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thecombine/combine/sqldb"
)

// Dump returns everything db stores, for tests that check what is (not)
// at rest: the bytes of the SQLite files (database, WAL and shared
// memory), or the text of every row of every table on PostgreSQL.
func Dump(t testing.TB, db *sqldb.DB) string {
	t.Helper()
	var b strings.Builder
	if db.Dialect == sqldb.SQLite {
		files, _ := filepath.Glob(db.Path + "*")
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("testdb: dump %s: %v", f, err)
			}
			b.Write(data)
		}
		return b.String()
	}
	ctx := context.Background()
	rows, err := db.R.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatalf("testdb: list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("testdb: %v", err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	for _, tb := range tables {
		rs, err := db.R.QueryContext(ctx, `SELECT x::text FROM "`+tb+`" x`)
		if err != nil {
			t.Fatalf("testdb: dump %s: %v", tb, err)
		}
		for rs.Next() {
			var s string
			if err := rs.Scan(&s); err != nil {
				t.Fatalf("testdb: %v", err)
			}
			b.WriteString(s + "\n")
		}
		rs.Close()
	}
	return b.String()
}
