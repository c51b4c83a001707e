//go:build unix

package sqldb_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/thecombine/combine/sqldb"
)

// TestSQLiteFilesOwnerOnly: the database file and its WAL companions are
// created readable by their owner only, whatever the umask.
func TestSQLiteFilesOwnerOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "combine.db")
	db, err := sqldb.Open(context.Background(), "sqlite://"+path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if mode := st.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), mode)
		}
	}
}
