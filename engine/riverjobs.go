package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/thecombine/combine/sqldb"
)

// riverJobs holds every statement the engine runs directly on River's job
// table (river_job), outside River's own API, so that a River upgrade has
// one place to re-check. Each fills a gap River leaves for our use:
// taking over a dead process's jobs at once instead of after River's
// hourly rescue, and reading the queue depth for /health.
// TestRiverJobsAdapter pins the River version these statements were
// checked against.
type riverJobs struct {
	db    *sqldb.DB
	queue string
}

// recoverOrphans makes the jobs left running by a killed process of this
// instance available again. On SQLite only one process serves the file,
// so every running job is an orphan; on PostgreSQL only the jobs last
// attempted under instanceID.
func (r riverJobs) recoverOrphans(ctx context.Context, instanceID string) (int64, error) {
	var n int64
	var err error
	if r.db.Dialect == sqldb.SQLite {
		n, err = r.exec(ctx, `UPDATE river_job SET state = 'available' WHERE queue = $1 AND state = 'running'`, r.queue)
	} else if instanceID != "" {
		n, err = r.exec(ctx, `UPDATE river_job SET state = 'available'
			WHERE queue = $1 AND state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $2`, r.queue, instanceID)
	}
	if err != nil {
		return 0, fmt.Errorf("recover orphaned jobs: %w", err)
	}
	return n, nil
}

// rescueStuck makes available again the jobs (PostgreSQL) that have been
// running longer than after: their instance died.
func (r riverJobs) rescueStuck(ctx context.Context, after time.Duration) (int64, error) {
	n, err := r.exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now()
		WHERE queue = $1 AND state = 'running' AND attempted_at < now() - make_interval(secs => $2)`,
		r.queue, after.Seconds())
	if err != nil {
		return 0, fmt.Errorf("rescue stuck jobs: %w", err)
	}
	return n, nil
}

// depth counts the queue's jobs waiting to run and running.
func (r riverJobs) depth(ctx context.Context) (queued, running int, err error) {
	err = r.db.R.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN state IN ('available', 'scheduled', 'retryable', 'pending') THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0)
		FROM river_job WHERE queue = $1`, r.queue).Scan(&queued, &running)
	if err != nil {
		return 0, 0, fmt.Errorf("runner queue depth: %w", err)
	}
	return queued, running, nil
}

func (r riverJobs) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := r.db.W.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
