package engine

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// riverCheckedVersion is the River release whose river_job table the
// statements of riverjobs.go were checked against.
const riverCheckedVersion = "v0.51.2"

// TestRiverJobsAdapter pins the River version and runs every direct
// statement on river_job against River's real schema: a River upgrade
// fails here until someone re-checks them.
func TestRiverJobsAdapter(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	version := ""
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/riverqueue/river" {
			version = f[1]
		}
	}
	if version != riverCheckedVersion {
		t.Fatalf("River is %s; engine/riverjobs.go was checked against %s: re-check its statements against River's schema, then update riverCheckedVersion", version, riverCheckedVersion)
	}

	ctx := context.Background()
	db := testdb.Open(t)
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(driver(db), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(n int) {
		for range n {
			err := db.WithTx(ctx, func(stx *sql.Tx) error {
				_, err := client.InsertTx(ctx, stx, advanceArgs{ExecutionID: "exe_x"}, nil)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(3)
	jobs := riverJobs{db: db, queue: queueName}
	queued, running, err := jobs.depth(ctx)
	if err != nil || queued != 3 || running != 0 {
		t.Fatalf("depth = %d queued, %d running, %v; want 3, 0", queued, running, err)
	}
	// Two jobs left running by a dead process of instance "a", one by "b".
	mark := `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = $1`
	args := []any{sqldb.Time(time.Now().Add(-time.Minute))}
	if db.Dialect == sqldb.Postgres {
		mark += `, attempted_by = CASE WHEN id = (SELECT MAX(id) FROM river_job) THEN ARRAY['b'] ELSE ARRAY['a'] END`
		args[0] = time.Now().Add(-time.Minute)
	}
	if _, err := db.W.ExecContext(ctx, mark, args...); err != nil {
		t.Fatal(err)
	}
	if queued, running, _ = jobs.depth(ctx); queued != 0 || running != 3 {
		t.Fatalf("depth = %d queued, %d running; want 0, 3", queued, running)
	}
	n, err := jobs.recoverOrphans(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := int64(2)
	if db.Dialect == sqldb.SQLite {
		want = 3 // one process per SQLite file: every running job is an orphan
	}
	if n != want {
		t.Fatalf("recovered %d orphans, want %d", n, want)
	}
	if db.Dialect == sqldb.Postgres {
		if n, err := jobs.rescueStuck(ctx, time.Hour); err != nil || n != 0 {
			t.Fatalf("rescued %d jobs running for a minute with a one-hour window (%v)", n, err)
		}
		if n, err := jobs.rescueStuck(ctx, time.Second); err != nil || n != 1 {
			t.Fatalf("rescued %d jobs, want the one of instance b (%v)", n, err)
		}
	}
	if queued, running, _ = jobs.depth(ctx); queued != 3 || running != 0 {
		t.Fatalf("depth = %d queued, %d running after recovery; want 3, 0", queued, running)
	}
}
