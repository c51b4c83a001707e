package engine

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/sqldb"
)

// querier is what both *sql.DB and *sql.Tx offer; reads take one so they
// run in a transaction or on the read pool alike.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// newID returns a random identifier with a type prefix, e.g. "exe_…".
func newID(prefix string) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + "_" + string(b)
}

// jsonText marshals v for a TEXT column; nil stays NULL.
func jsonText(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode json column: %w", err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

const executionColumns = `id, workflow_id, workflow_revision, project_id, inputs, status,
	pending, error, failed_step, retries, created_by, created_at, updated_at, started_at, finished_at, last_seq`

// execRow is an execution with the bookkeeping the engine needs. items
// are the open work items (pending and running), as stored.
type execRow struct {
	combine.Execution
	LastSeq int64
	items   []*combine.WorkItem
}

// setItems sets the open work items and splits them into Pending and
// Running.
func (e *execRow) setItems(items []*combine.WorkItem) {
	e.items = items
	e.Pending, e.Running = []*combine.WorkItem{}, []*combine.WorkItem{}
	for _, it := range items {
		if it.Kind == combine.WorkRunning {
			e.Running = append(e.Running, it)
		} else {
			e.Pending = append(e.Pending, it)
		}
	}
}

func scanExecution(sc interface{ Scan(...any) error }) (*execRow, error) {
	var (
		e                 execRow
		inputs            string
		pending           sql.NullString
		started, finished time.Time
		status            string
	)
	err := sc.Scan(&e.ID, &e.WorkflowID, &e.WorkflowRevision, &e.ProjectID, &inputs, &status,
		&pending, &e.Error, &e.FailedStepPath, &e.Retries, &e.CreatedBy, sqldb.TimeDest{T: &e.CreatedAt}, sqldb.TimeDest{T: &e.UpdatedAt},
		sqldb.TimeDest{T: &started}, sqldb.TimeDest{T: &finished}, &e.LastSeq)
	if err != nil {
		return nil, err
	}
	e.Status = combine.ExecutionStatus(status)
	e.Inputs = json.RawMessage(inputs)
	var items []*combine.WorkItem
	if pending.Valid { // NULL until rebuilt for a row of the first engine
		if err := json.Unmarshal([]byte(pending.String), &items); err != nil {
			return nil, fmt.Errorf("decode work items: %w", err)
		}
	}
	e.setItems(items)
	if !started.IsZero() {
		e.StartedAt = &started
	}
	if !finished.IsZero() {
		e.FinishedAt = &finished
	}
	return &e, nil
}

// findExecution loads one execution; ENOTFOUND when absent.
func findExecution(ctx context.Context, q querier, id string) (*execRow, error) {
	e, err := scanExecution(q.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "execution %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find execution: %w", err)
	}
	return e, nil
}

// lockExecution loads an execution inside a transition's transaction and,
// on PostgreSQL, locks its row until commit, so that concurrent
// transitions of one execution (two work items finishing at once, an
// answer and a cancel, two instances) apply one after the other and the
// event log stays gap-free. SQLite's single writer already serializes them.
func (s *Service) lockExecution(ctx context.Context, tx *Tx, id string) (*execRow, error) {
	if s.db.Dialect != sqldb.Postgres {
		return findExecution(ctx, tx, id)
	}
	e, err := scanExecution(tx.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "execution %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("lock execution: %w", err)
	}
	return e, nil
}

// saveExecution writes the mutable state of e.
func saveExecution(ctx context.Context, tx *Tx, e *execRow) error {
	items := e.items
	if items == nil {
		items = []*combine.WorkItem{}
	}
	pend, err := jsonText(items)
	if err != nil {
		return err
	}
	var started, finished time.Time
	if e.StartedAt != nil {
		started = *e.StartedAt
	}
	if e.FinishedAt != nil {
		finished = *e.FinishedAt
	}
	e.UpdatedAt = tx.Now
	_, err = tx.ExecContext(ctx, `UPDATE executions SET status = $2, pending = $3, error = $4, failed_step = $5, retries = $6,
		updated_at = $7, started_at = $8, finished_at = $9, last_seq = $10 WHERE id = $1`,
		e.ID, string(e.Status), pend, e.Error, e.FailedStepPath, e.Retries, tx.now(),
		sqldb.Time(started), sqldb.Time(finished), e.LastSeq)
	if err != nil {
		return fmt.Errorf("save execution: %w", err)
	}
	return nil
}

// appendEvent adds the next event to e's log inside tx; the streams that
// follow it wake once tx commits. e.LastSeq is advanced; the caller saves
// e in the same transaction.
func (s *Service) appendEvent(ctx context.Context, tx *Tx, e *execRow, typ string, data any) error {
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	e.LastSeq++
	if _, err := tx.ExecContext(ctx, `INSERT INTO execution_events (execution_id, seq, type, data, created_at)
		VALUES ($1, $2, $3, $4, $5)`, e.ID, e.LastSeq, typ, string(b), tx.now()); err != nil {
		return fmt.Errorf("append event %s: %w", typ, err)
	}
	tx.appended(e.ID, typ)
	return events.Notify(ctx, tx.Tx, s.db.Dialect, e.ID)
}

// ListEvents implements combine.EventService.
func (s *Service) ListEvents(ctx context.Context, executionID string, afterSeq int64, limit int) ([]*combine.Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if _, err := findExecution(ctx, s.db.R, executionID); err != nil {
		return nil, err
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT execution_id, seq, type, data, created_at FROM execution_events
		WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, executionID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []*combine.Event
	for rows.Next() {
		var ev combine.Event
		var data string
		if err := rows.Scan(&ev.ExecutionID, &ev.Seq, &ev.Type, &data, sqldb.TimeDest{T: &ev.Time}); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		ev.Data = json.RawMessage(data)
		out = append(out, &ev)
	}
	return out, rows.Err()
}
