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
// scope) and flips is_latest on the previous version, in tx.
func insertDocument(ctx context.Context, tx *sql.Tx, d *combine.Document, attemptNo int) error {
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
	d.Version, d.IsLatest = prev+1, true
	_, err = tx.ExecContext(ctx, `INSERT INTO documents (`+documentColumns+`, attempt)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		d.ID, d.ProjectID, d.DocumentType, d.ScopeType, d.ScopeID, d.Version, d.IsLatest, d.Title, string(d.Content),
		d.CreatedBy, d.ExecutionID, d.StepID, d.StepPath, d.Acceptance.Status, d.Acceptance.DecidedBy, nil,
		d.Acceptance.Comment, sqldb.Time(d.CreatedAt), attemptNo)
	if err != nil {
		return fmt.Errorf("insert document: %w", err)
	}
	return nil
}

// latestAccepted returns the newest version of a (type, scope) that is
// accepted or needs no acceptance; ENOTFOUND when there is none.
func latestAccepted(ctx context.Context, q querier, projectID, docType, scopeType, scopeID string) (*combine.Document, error) {
	d, err := scanDocument(q.QueryRowContext(ctx, `SELECT `+documentColumns+` FROM documents
		WHERE project_id = $1 AND document_type = $2 AND scope_type = $3 AND scope_id = $4 AND acceptance_status IN ($5, $6)
		ORDER BY version DESC LIMIT 1`, projectID, docType, scopeType, scopeID, combine.AcceptanceAccepted, combine.AcceptanceNotRequired))
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
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.ExecutionID != "" {
		add("execution_id = $%d", f.ExecutionID)
	}
	if f.ProjectID != "" {
		add("project_id = $%d", f.ProjectID)
	}
	if f.DocumentType != "" {
		add("document_type = $%d", f.DocumentType)
	}
	if f.ScopeID != "" {
		add("scope_id = $%d", f.ScopeID)
	}
	if f.Latest {
		where = append(where, "is_latest")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM documents`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count documents: %w", err)
	}
	limit, offset := pageOf(f.Limit, f.Offset)
	args = append(args, limit, offset)
	docs, err := queryDocuments(ctx, s.db.R, `SELECT `+documentColumns+` FROM documents`+cond+
		fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	return docs, total, err
}

// pageOf clamps a page request: default 50, at most 500.
func pageOf(limit, offset int) (int, int) {
	if limit <= 0 {
		limit = 50
	}
	return min(limit, 500), max(offset, 0)
}
