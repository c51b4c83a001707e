package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/thecombine/combine"
)

// Step run statuses.
const (
	runRunning   = "running"
	runCompleted = "completed"
	runFailed    = "failed"
	runCancelled = "cancelled"
)

// Attempt statuses. An attempt only moves forward: running → produced
// (the worker's output is stored) → one final status. Guarded updates
// (WHERE status = …) make re-delivered jobs no-ops.
const (
	attRunning      = "running"
	attProduced     = "produced"
	attWaitingInput = "waiting_input"
	attQuestions    = "questions"
	attQAFailed     = "qa_failed"
	attDocument     = "document"
	attRejected     = "rejected"
	attAccepted     = "accepted"
	attFailed       = "failed"
	attCancelled    = "cancelled"
)

// stepRun is one step instance of an execution with its gate counters.
type stepRun struct {
	ID             string
	ExecutionID    string
	Ref            combine.StepRef
	Status         string
	Attempts       int
	QAFailures     int
	Rejections     int
	Clarifications int
}

// feedback is what an attempt is asked to address.
type feedback struct {
	Problems        []string           `json:"problems,omitempty"`
	ReviewerComment string             `json:"reviewer_comment,omitempty"`
	Questions       []combine.Question `json:"questions,omitempty"`
	Answers         map[string]string  `json:"answers,omitempty"`
}

// attempt is one attempt of a step instance.
type attempt struct {
	ID          string
	StepRunID   string
	ExecutionID string
	Path        string
	Number      int
	Key         string
	Worker      string
	Status      string
	Feedback    feedback
	Output      *combine.WorkResult
	// Prompts are the prompt versions and hashes the attempt runs with.
	Prompts []combine.PromptRef
}

func attemptKey(executionID, path string, n int) string {
	return fmt.Sprintf("%s/%s#%d", executionID, path, n)
}

func insertStepRun(ctx context.Context, tx *sql.Tx, r *stepRun, now any) error {
	ref, err := json.Marshal(r.Ref)
	if err != nil {
		return fmt.Errorf("encode step ref: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO step_runs (id, execution_id, step_path, step_id, scope_type, scope_id, ref,
		status, attempts, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
		r.ID, r.ExecutionID, r.Ref.Path, r.Ref.StepID, r.Ref.ScopeType, r.Ref.ScopeID, string(ref), r.Status, r.Attempts, now)
	if err != nil {
		return fmt.Errorf("insert step run: %w", err)
	}
	return nil
}

func saveStepRun(ctx context.Context, tx *sql.Tx, r *stepRun, errText string, now any) error {
	_, err := tx.ExecContext(ctx, `UPDATE step_runs SET status = $2, attempts = $3, qa_failures = $4, rejections = $5,
		clarifications = $6, error = $7, updated_at = $8 WHERE id = $1`,
		r.ID, r.Status, r.Attempts, r.QAFailures, r.Rejections, r.Clarifications, errText, now)
	if err != nil {
		return fmt.Errorf("save step run: %w", err)
	}
	return nil
}

func findStepRun(ctx context.Context, q querier, executionID, path string) (*stepRun, error) {
	var r stepRun
	var ref string
	err := q.QueryRowContext(ctx, `SELECT id, execution_id, ref, status, attempts, qa_failures, rejections, clarifications
		FROM step_runs WHERE execution_id = $1 AND step_path = $2`, executionID, path).
		Scan(&r.ID, &r.ExecutionID, &ref, &r.Status, &r.Attempts, &r.QAFailures, &r.Rejections, &r.Clarifications)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "step %q of execution %q not found", path, executionID)
	} else if err != nil {
		return nil, fmt.Errorf("find step run: %w", err)
	}
	if err := json.Unmarshal([]byte(ref), &r.Ref); err != nil {
		return nil, fmt.Errorf("decode step ref: %w", err)
	}
	r.Ref.Attempt = r.Attempts
	return &r, nil
}

// completedPaths returns the step paths of e that are done.
func completedPaths(ctx context.Context, q querier, executionID string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT step_path FROM step_runs WHERE execution_id = $1 AND status = $2`, executionID, runCompleted)
	if err != nil {
		return nil, fmt.Errorf("list completed steps: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("scan step path: %w", err)
		}
		out[p] = true
	}
	return out, rows.Err()
}

func insertAttempt(ctx context.Context, tx *sql.Tx, a *attempt, now any) error {
	fb, err := json.Marshal(a.Feedback)
	if err != nil {
		return fmt.Errorf("encode feedback: %w", err)
	}
	prompts, err := json.Marshal(a.Prompts)
	if err != nil {
		return fmt.Errorf("encode prompts: %w", err)
	}
	if a.Prompts == nil {
		prompts = []byte("[]")
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO step_attempts (id, step_run_id, execution_id, step_path, attempt,
		idempotency_key, worker, status, feedback, prompts, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		a.ID, a.StepRunID, a.ExecutionID, a.Path, a.Number, a.Key, a.Worker, a.Status, string(fb), string(prompts), now)
	if err != nil {
		return fmt.Errorf("insert attempt: %w", err)
	}
	return nil
}

func findAttempt(ctx context.Context, q querier, executionID, path string, n int) (*attempt, error) {
	var a attempt
	var fb string
	var out sql.NullString
	err := q.QueryRowContext(ctx, `SELECT id, step_run_id, execution_id, step_path, attempt, idempotency_key, worker, status,
		feedback, output FROM step_attempts WHERE execution_id = $1 AND step_path = $2 AND attempt = $3`, executionID, path, n).
		Scan(&a.ID, &a.StepRunID, &a.ExecutionID, &a.Path, &a.Number, &a.Key, &a.Worker, &a.Status, &fb, &out)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "attempt %d of step %q not found", n, path)
	} else if err != nil {
		return nil, fmt.Errorf("find attempt: %w", err)
	}
	if err := json.Unmarshal([]byte(fb), &a.Feedback); err != nil {
		return nil, fmt.Errorf("decode feedback: %w", err)
	}
	if out.Valid {
		a.Output = &combine.WorkResult{}
		if err := json.Unmarshal([]byte(out.String), a.Output); err != nil {
			return nil, fmt.Errorf("decode output: %w", err)
		}
	}
	return &a, nil
}

// moveAttempt moves an attempt from one status to another and reports
// whether it did; false means another delivery got there first.
func moveAttempt(ctx context.Context, tx *sql.Tx, id, from, to string, problems []string, documentID string, now any) (bool, error) {
	probs, err := jsonText(problems)
	if err != nil {
		return false, err
	}
	var doc any
	if documentID != "" {
		doc = documentID
	}
	res, err := tx.ExecContext(ctx, `UPDATE step_attempts SET status = $3, problems = COALESCE($4, problems),
		document_id = COALESCE($5, document_id), finished_at = $6 WHERE id = $1 AND status = $2`,
		id, from, to, probs, doc, now)
	if err != nil {
		return false, fmt.Errorf("update attempt: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("update attempt: %w", err)
	}
	return n == 1, nil
}

// storeOutput records a worker's result on a running attempt before
// anything is applied, so that a re-delivered job reuses it instead of
// calling the worker (and paying for it) again.
func storeOutput(ctx context.Context, tx *sql.Tx, id, worker string, out *combine.WorkResult) (bool, error) {
	b, err := json.Marshal(out)
	if err != nil {
		return false, fmt.Errorf("encode output: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE step_attempts SET status = $2, output = $3, worker = $4
		WHERE id = $1 AND status = $5`, id, attProduced, string(b), worker, attRunning)
	if err != nil {
		return false, fmt.Errorf("store output: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// closeOpenAttempts ends every unfinished attempt of an execution (cancel
// or failure), so no late delivery applies anything.
func closeOpenAttempts(ctx context.Context, tx *sql.Tx, executionID, to string, now any) error {
	_, err := tx.ExecContext(ctx, `UPDATE step_attempts SET status = $2, finished_at = $3
		WHERE execution_id = $1 AND status IN ($4, $5, $6, $7, $8)`,
		executionID, to, now, attRunning, attProduced, attWaitingInput, attQuestions, attDocument)
	if err != nil {
		return fmt.Errorf("close attempts: %w", err)
	}
	runStatus := runFailed
	if to == attCancelled {
		runStatus = runCancelled
	}
	_, err = tx.ExecContext(ctx, `UPDATE step_runs SET status = $2, updated_at = $3 WHERE execution_id = $1 AND status = $4`,
		executionID, runStatus, now, runRunning)
	if err != nil {
		return fmt.Errorf("close step runs: %w", err)
	}
	return nil
}
