package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

const documentColumns = `id, project_id, document_type, scope_type, scope_id, version, is_latest, title, content,
	created_by, execution_id, step_id, step_path, acceptance_status, decided_by, decided_at, decision_comment, created_at`

func scanDocument(sc interface{ Scan(...any) error }) (*combine.Document, error) {
	var d combine.Document
	var content string
	var decided time.Time
	err := sc.Scan(&d.ID, &d.ProjectID, &d.DocumentType, &d.ScopeType, &d.ScopeID, &d.Version, &d.IsLatest, &d.Title,
		&content, &d.CreatedBy, &d.ExecutionID, &d.StepID, &d.StepPath, &d.Acceptance.Status, &d.Acceptance.DecidedBy,
		sqldb.TimeDest{T: &decided}, &d.Acceptance.Comment, sqldb.TimeDest{T: &d.CreatedAt})
	if err != nil {
		return nil, err
	}
	d.Content = json.RawMessage(content)
	if !decided.IsZero() {
		d.Acceptance.DecidedAt = &decided
	}
	return &d, nil
}

func queryDocuments(ctx context.Context, q querier, query string, args ...any) ([]*combine.Document, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query documents: %w", err)
	}
	defer rows.Close()
	out := []*combine.Document{}
	for rows.Next() {
		d, err := scanDocument(rows)
		if err != nil {
			return nil, fmt.Errorf("scan document: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func findDocument(ctx context.Context, q querier, id string) (*combine.Document, error) {
	d, err := scanDocument(q.QueryRowContext(ctx, `SELECT `+documentColumns+` FROM documents WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "document %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find document: %w", err)
	}
	return d, nil
}

// insertDocument stores d as the next version of its (project, type,
// scope) and flips is_latest on the previous version, in tx. Versions are
// shared by every execution of the project, so on PostgreSQL the
// allocation is serialized per (project, type, scope) by a transaction
// advisory lock; SQLite's single writer already serializes it.
func (s *Service) insertDocument(ctx context.Context, tx *Tx, d *combine.Document, attemptNo int) error {
	if s.db.Dialect == sqldb.Postgres {
		key := strings.Join([]string{d.ProjectID, d.DocumentType, d.ScopeType, d.ScopeID}, "\x1f")
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
			return fmt.Errorf("lock document versions: %w", err)
		}
	}
	var prev int
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM documents
		WHERE project_id = $1 AND document_type = $2 AND scope_type = $3 AND scope_id = $4`,
		d.ProjectID, d.DocumentType, d.ScopeType, d.ScopeID).Scan(&prev)
	if err != nil {
		return fmt.Errorf("next document version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE documents SET is_latest = FALSE
		WHERE project_id = $1 AND document_type = $2 AND scope_type = $3 AND scope_id = $4 AND is_latest`,
		d.ProjectID, d.DocumentType, d.ScopeType, d.ScopeID); err != nil {
		return fmt.Errorf("flip latest document: %w", err)
	}
	d.Version, d.IsLatest, d.CreatedAt = prev+1, true, tx.Now
	var decided any
	if d.Acceptance.DecidedAt != nil {
		decided = sqldb.Time(*d.Acceptance.DecidedAt)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO documents (`+documentColumns+`, attempt)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		d.ID, d.ProjectID, d.DocumentType, d.ScopeType, d.ScopeID, d.Version, d.IsLatest, d.Title, string(d.Content),
		d.CreatedBy, d.ExecutionID, d.StepID, d.StepPath, d.Acceptance.Status, d.Acceptance.DecidedBy, decided,
		d.Acceptance.Comment, sqldb.Time(d.CreatedAt), attemptNo)
	if err != nil {
		return fmt.Errorf("insert document: %w", err)
	}
	return nil
}

// setAcceptance records a decision on a document version.
func setAcceptance(ctx context.Context, tx *Tx, documentID, status, decidedBy, comment string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE documents SET acceptance_status = $2, decided_by = $3, decided_at = $4,
		decision_comment = $5 WHERE id = $1`, documentID, status, decidedBy, tx.now(), comment); err != nil {
		return fmt.Errorf("record document acceptance: %w", err)
	}
	return nil
}

// latestAccepted returns the newest version of a (type, scope) produced
// (or seeded) in execution executionID that is accepted or needs no
// acceptance; ENOTFOUND when there is none. Other executions' documents
// of the same project are never read.
func latestAccepted(ctx context.Context, q querier, executionID, docType, scopeType, scopeID string) (*combine.Document, error) {
	d, err := scanDocument(q.QueryRowContext(ctx, `SELECT `+documentColumns+` FROM documents
		WHERE execution_id = $1 AND document_type = $2 AND scope_type = $3 AND scope_id = $4 AND acceptance_status IN ($5, $6)
		ORDER BY version DESC LIMIT 1`, executionID, docType, scopeType, scopeID, combine.AcceptanceAccepted, combine.AcceptanceNotRequired))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "no accepted %s document in scope %s %q", docType, scopeType, scopeID)
	} else if err != nil {
		return nil, fmt.Errorf("find latest accepted document: %w", err)
	}
	return d, nil
}

// FindDocument implements combine.DocumentService.
func (s *Service) FindDocument(ctx context.Context, id string) (*combine.Document, error) {
	return findDocument(ctx, s.db.R, id)
}

// DocumentVersions implements combine.DocumentService.
func (s *Service) DocumentVersions(ctx context.Context, id string) ([]*combine.Document, error) {
	d, err := findDocument(ctx, s.db.R, id)
	if err != nil {
		return nil, err
	}
	return queryDocuments(ctx, s.db.R, `SELECT `+documentColumns+` FROM documents
		WHERE project_id = $1 AND document_type = $2 AND scope_type = $3 AND scope_id = $4 ORDER BY version DESC`,
		d.ProjectID, d.DocumentType, d.ScopeType, d.ScopeID)
}

// ListDocuments implements combine.DocumentService.
func (s *Service) ListDocuments(ctx context.Context, f combine.DocumentFilter) ([]*combine.Document, int, error) {
	q := (&listQuery{table: "documents"}).eq("execution_id", f.ExecutionID).eq("project_id", f.ProjectID).
		eq("document_type", f.DocumentType).eq("scope_id", f.ScopeID).when(f.Latest, "is_latest")
	docs := []*combine.Document{}
	total, err := q.page(ctx, s.db.R, documentColumns, "created_at, id", f.Limit, f.Offset, func(rows *sql.Rows) error {
		d, err := scanDocument(rows)
		if err == nil {
			docs = append(docs, d)
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return docs, total, nil
}
