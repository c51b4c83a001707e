package health

import (
	"context"
	"time"

	"github.com/thecombine/combine/sqldb"
)

// DatabaseTimeout bounds the database check: well under the 2 s a probe
// usually allows, so a hung database turns readiness to 503 in time.
const DatabaseTimeout = time.Second

// Database returns the foundation's two components for db: "database"
// (critical: readiness fails without it) and "migrations" (the schema
// version; degraded while it is behind this binary's migrations).
func Database(db *sqldb.DB) []Component {
	return []Component{
		{
			Name:     "database",
			Critical: true,
			Timeout:  DatabaseTimeout,
			Check: func(ctx context.Context) (map[string]any, error) {
				return map[string]any{"dialect": string(db.Dialect)}, db.Ping(ctx)
			},
		},
		{
			Name:    "migrations",
			Timeout: DatabaseTimeout,
			Check: func(ctx context.Context) (map[string]any, error) {
				cur, latest, err := db.SchemaVersion(ctx)
				if err != nil {
					return nil, err
				}
				d := map[string]any{"version": cur, "latest": latest}
				if cur < latest {
					return d, Degradedf("schema version %d is behind %d; run combine migrate", cur, latest)
				}
				return d, nil
			},
		},
	}
}
