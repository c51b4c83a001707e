package sqldb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// goMigrationVersions lists the migrations written in Go: those whose SQL
// must differ by dialect (triggers). They are numbered in the same
// sequence as the SQL files.
var goMigrationVersions = []int64{5}

// goMigrations returns the Go migrations for dialect d.
func goMigrations(d Dialect) []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(5,
			&goose.GoFunc{RunTx: execAll(appendOnlyAuditUp[d])},
			&goose.GoFunc{RunTx: execAll(appendOnlyAuditDown[d])}),
	}
}

// appendOnlyAuditUp makes the audit log append-only in the database
// itself, so that not even a bug or a hand-typed statement through the
// application's own role can rewrite history.
var appendOnlyAuditUp = map[Dialect][]string{
	SQLite: {
		`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
		`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
	},
	Postgres: {
		`CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$`,
		`CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
		FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
		`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
		FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`,
	},
}

var appendOnlyAuditDown = map[Dialect][]string{
	SQLite: {`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`},
	Postgres: {
		`DROP TRIGGER audit_log_no_truncate ON audit_log`,
		`DROP TRIGGER audit_log_no_change ON audit_log`,
		`DROP FUNCTION audit_log_append_only()`,
	},
}

func execAll(stmts []string) func(ctx context.Context, tx *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("migration statement %.40q: %w", s, err)
			}
		}
		return nil
	}
}
