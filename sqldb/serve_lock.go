package sqldb

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ClaimServer makes this process the only server of a SQLite database: a
// second `combine serve` on the same file would run the same jobs twice,
// since on SQLite the runner treats every running job it finds at start as
// orphaned by a crash. The lock is a flock on "<db>.serve-lock", released
// by the kernel even after kill -9. It waits up to wait for a predecessor
// that is still shutting down. On PostgreSQL, where instances share the
// work, it is a no-op.
func (db *DB) ClaimServer(ctx context.Context, wait time.Duration) (release func(), err error) {
	if db.Dialect != SQLite {
		return func() {}, nil
	}
	lctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	release, err = lockFile(lctx, db.Path+".serve-lock")
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("another combine serve is using the SQLite database %s; run one server per SQLite file, or use PostgreSQL for several instances", db.Path)
	}
	return release, err
}
