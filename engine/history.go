package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

var _ combine.StepService = (*Service)(nil)

// ListSteps implements combine.StepService.
func (s *Service) ListSteps(ctx context.Context, executionID string) ([]*combine.StepRun, error) {
	if _, err := findExecution(ctx, s.db.R, executionID); err != nil {
		return nil, err
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, ref, status, attempts, qa_failures, rejections, clarifications, error,
		created_at, updated_at FROM step_runs WHERE execution_id = $1 ORDER BY ord, created_at, id`, executionID)
	if err != nil {
		return nil, fmt.Errorf("list step runs: %w", err)
	}
	defer rows.Close()
	out := []*combine.StepRun{}
	byID := map[string]*combine.StepRun{}
	for rows.Next() {
		var r combine.StepRun
		var id, ref string
		var attempts int
		if err := rows.Scan(&id, &ref, &r.Status, &attempts, &r.QAFailures, &r.Rejections, &r.Clarifications, &r.Error,
			sqldb.TimeDest{T: &r.CreatedAt}, sqldb.TimeDest{T: &r.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("scan step run: %w", err)
		}
		if err := json.Unmarshal([]byte(ref), &r.StepRef); err != nil {
			return nil, fmt.Errorf("decode step ref: %w", err)
		}
		r.StepRef.Attempt = attempts
		r.Attempts = []combine.StepAttempt{}
		byID[id] = &r
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, s.attachAttempts(ctx, executionID, byID)
}

func (s *Service) attachAttempts(ctx context.Context, executionID string, runs map[string]*combine.StepRun) error {
	rows, err := s.db.R.QueryContext(ctx, `SELECT step_run_id, attempt, idempotency_key, worker, status, feedback, problems,
		prompts, inputs, document_id, output, started_at, finished_at FROM step_attempts WHERE execution_id = $1 ORDER BY step_run_id, attempt`, executionID)
	if err != nil {
		return fmt.Errorf("list attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a combine.StepAttempt
		var runID, fb, prompts, inputs string
		var probs, doc, output sql.NullString
		var finished time.Time
		if err := rows.Scan(&runID, &a.Attempt, &a.IdempotencyKey, &a.Worker, &a.Status, &fb, &probs, &prompts, &inputs, &doc,
			&output, sqldb.TimeDest{T: &a.StartedAt}, sqldb.TimeDest{T: &finished}); err != nil {
			return fmt.Errorf("scan attempt: %w", err)
		}
		if fb != "{}" {
			a.Feedback = json.RawMessage(fb)
		}
		if probs.Valid {
			if err := json.Unmarshal([]byte(probs.String), &a.Problems); err != nil {
				return fmt.Errorf("decode problems: %w", err)
			}
		}
		if err := json.Unmarshal([]byte(prompts), &a.Prompts); err != nil {
			return fmt.Errorf("decode prompts: %w", err)
		}
		if err := json.Unmarshal([]byte(inputs), &a.Inputs); err != nil {
			return fmt.Errorf("decode inputs: %w", err)
		}
		a.DocumentID = doc.String
		if output.Valid {
			var res combine.WorkResult
			if err := json.Unmarshal([]byte(output.String), &res); err != nil {
				return fmt.Errorf("decode output: %w", err)
			}
			a.RequestHash = res.RequestHash
		}
		if !finished.IsZero() {
			a.FinishedAt = &finished
		}
		if r := runs[runID]; r != nil {
			r.Attempts = append(r.Attempts, a)
		}
	}
	return rows.Err()
}
