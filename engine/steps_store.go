package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/thecombine/combine"
)

// Step run statuses. A run is open while running; one failed run fails
// the execution (and stays failed until the execution is retried).
const (
	runRunning   = "running"
	runCompleted = "completed"
	runFailed    = "failed"
	runCancelled = "cancelled"
)

// Attempt statuses. An attempt only moves forward: running → produced
// (the worker's output is stored) → one final status; a running attempt
// whose execution failed meanwhile is parked until a retry re-opens it.
// Guarded updates (WHERE status = …) make re-delivered jobs no-ops.
const (
	attRunning      = "running"
	attProduced     = "produced"
	attParked       = "parked"
	attWaitingInput = "waiting_input"
	attQuestions    = "questions"
	attAnswered     = "answered"
	attQAFailed     = "qa_failed"
	attDocument     = "document"
	attRejected     = "rejected"
	attAccepted     = "accepted"
	attCompleted    = "completed"
	attFailed       = "failed"
	attCancelled    = "cancelled"
)

// openAttemptStatuses are the statuses of an attempt that is not over.
var openAttemptStatuses = []string{attRunning, attProduced, attParked, attWaitingInput, attQuestions, attDocument}

// stepRun is one step instance of an execution with its gate counters.
type stepRun struct {
	ID             string
	ExecutionID    string
	Ref            combine.StepRef
	Status         string
	Ord            int
	Attempts       int
	QAFailures     int
	Rejections     int
	Clarifications int
	Error          string
}

// feedback is what an attempt is asked to address.
type feedback struct {
	Problems        []string           `json:"problems,omitempty"`
	ReviewerComment string             `json:"reviewer_comment,omitempty"`
	RetryComment    string             `json:"retry_comment,omitempty"`
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
	Inputs      []combine.InputRead
	Problems    []string
	Output      *combine.WorkResult
	DocumentID  string
	// Prompts are the prompt versions and hashes the attempt runs with.
	Prompts []combine.PromptRef
}

func attemptKey(executionID, path string, n int) string {
	return fmt.Sprintf("%s/%s#%d", executionID, path, n)
}

// insertStepRun stores a new run; r.Ord orders it among the execution's.
func insertStepRun(ctx context.Context, tx *Tx, r *stepRun) error {
	ref, err := json.Marshal(r.Ref)
	if err != nil {
		return fmt.Errorf("encode step ref: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO step_runs (id, execution_id, step_path, step_id, scope_type, scope_id, ref,
		status, attempts, ord, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
		r.ID, r.ExecutionID, r.Ref.Path, r.Ref.StepID, r.Ref.ScopeType, r.Ref.ScopeID, string(ref), r.Status, r.Attempts, r.Ord, tx.now())
	if err != nil {
		return fmt.Errorf("insert step run: %w", err)
	}
	return nil
}

func saveStepRun(ctx context.Context, tx *Tx, r *stepRun) error {
	_, err := tx.ExecContext(ctx, `UPDATE step_runs SET status = $2, attempts = $3, qa_failures = $4, rejections = $5,
		clarifications = $6, error = $7, updated_at = $8 WHERE id = $1`,
		r.ID, r.Status, r.Attempts, r.QAFailures, r.Rejections, r.Clarifications, r.Error, tx.now())
	if err != nil {
		return fmt.Errorf("save step run: %w", err)
	}
	return nil
}

const stepRunColumns = `id, execution_id, ref, status, ord, attempts, qa_failures, rejections, clarifications, error`

func scanStepRun(sc interface{ Scan(...any) error }) (*stepRun, error) {
	var r stepRun
	var ref string
	if err := sc.Scan(&r.ID, &r.ExecutionID, &ref, &r.Status, &r.Ord, &r.Attempts, &r.QAFailures, &r.Rejections,
		&r.Clarifications, &r.Error); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(ref), &r.Ref); err != nil {
		return nil, fmt.Errorf("decode step ref: %w", err)
	}
	r.Ref.Attempt = r.Attempts
	return &r, nil
}

// findStepRun loads the run at path; ENOTFOUND when there is none.
func findStepRun(ctx context.Context, q querier, executionID, path string) (*stepRun, error) {
	r, err := scanStepRun(q.QueryRowContext(ctx, `SELECT `+stepRunColumns+` FROM step_runs
		WHERE execution_id = $1 AND step_path = $2`, executionID, path))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "step %q of execution %q not found", path, executionID)
	} else if err != nil {
		return nil, fmt.Errorf("find step run: %w", err)
	}
	return r, nil
}

// stepRuns loads the runs of an execution with status (all when ""), in
// the order they were opened.
func stepRuns(ctx context.Context, q querier, executionID, status string) ([]*stepRun, error) {
	query := `SELECT ` + stepRunColumns + ` FROM step_runs WHERE execution_id = $1`
	args := []any{executionID}
	if status != "" {
		query += ` AND status = $2`
		args = append(args, status)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY ord, created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list step runs: %w", err)
	}
	defer rows.Close()
	var out []*stepRun
	for rows.Next() {
		r, err := scanStepRun(rows)
		if err != nil {
			return nil, fmt.Errorf("scan step run: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func insertAttempt(ctx context.Context, tx *Tx, a *attempt) error {
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
	inputs, err := json.Marshal(a.Inputs)
	if err != nil {
		return fmt.Errorf("encode inputs: %w", err)
	}
	if a.Inputs == nil {
		inputs = []byte("[]")
	}
	var finished any
	if !slices.Contains(openAttemptStatuses, a.Status) {
		finished = tx.now()
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO step_attempts (id, step_run_id, execution_id, step_path, attempt,
		idempotency_key, worker, status, feedback, prompts, inputs, document_id, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		a.ID, a.StepRunID, a.ExecutionID, a.Path, a.Number, a.Key, a.Worker, a.Status, string(fb), string(prompts),
		string(inputs), nullIfEmpty(a.DocumentID), tx.now(), finished)
	if err != nil {
		return fmt.Errorf("insert attempt: %w", err)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const attemptColumns = `id, step_run_id, execution_id, step_path, attempt, idempotency_key, worker, status,
	feedback, inputs, problems, output, document_id`

func scanAttempt(sc interface{ Scan(...any) error }) (*attempt, error) {
	var a attempt
	var fb, inputs string
	var probs, out, doc sql.NullString
	if err := sc.Scan(&a.ID, &a.StepRunID, &a.ExecutionID, &a.Path, &a.Number, &a.Key, &a.Worker, &a.Status,
		&fb, &inputs, &probs, &out, &doc); err != nil {
		return nil, err
	}
	if probs.Valid {
		if err := json.Unmarshal([]byte(probs.String), &a.Problems); err != nil {
			return nil, fmt.Errorf("decode problems: %w", err)
		}
	}
	if err := json.Unmarshal([]byte(fb), &a.Feedback); err != nil {
		return nil, fmt.Errorf("decode feedback: %w", err)
	}
	if err := json.Unmarshal([]byte(inputs), &a.Inputs); err != nil {
		return nil, fmt.Errorf("decode inputs: %w", err)
	}
	if out.Valid {
		a.Output = &combine.WorkResult{}
		if err := json.Unmarshal([]byte(out.String), a.Output); err != nil {
			return nil, fmt.Errorf("decode output: %w", err)
		}
	}
	a.DocumentID = doc.String
	return &a, nil
}

func findAttempt(ctx context.Context, q querier, executionID, path string, n int) (*attempt, error) {
	a, err := scanAttempt(q.QueryRowContext(ctx, `SELECT `+attemptColumns+` FROM step_attempts
		WHERE execution_id = $1 AND step_path = $2 AND attempt = $3`, executionID, path, n))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "attempt %d of step %q not found", n, path)
	} else if err != nil {
		return nil, fmt.Errorf("find attempt: %w", err)
	}
	return a, nil
}

// moveAttempt moves an attempt from one status to another and reports
// whether it did; false means another delivery or action got there first.
func moveAttempt(ctx context.Context, tx *Tx, id, from, to string) (bool, error) {
	return moveAttemptTo(ctx, tx, id, from, to, "")
}

// moveAttemptTo is moveAttempt that also records the document the
// attempt produced (when documentID is not empty).
func moveAttemptTo(ctx context.Context, tx *Tx, id, from, to, documentID string) (bool, error) {
	finished := tx.now()
	if slices.Contains(openAttemptStatuses, to) {
		finished = nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE step_attempts SET status = $3, finished_at = $4, document_id = COALESCE($5, document_id)
		WHERE id = $1 AND status = $2`, id, from, to, finished, nullIfEmpty(documentID))
	if err != nil {
		return false, fmt.Errorf("update attempt: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("update attempt: %w", err)
	}
	return n == 1, nil
}

// setAttempt records who sent an attempt's document and its QA problems
// (empty values leave the column alone).
func setAttempt(ctx context.Context, tx *Tx, id, worker string, problems []string) error {
	probs, err := jsonText(problems)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE step_attempts SET worker = COALESCE($2, worker), problems = COALESCE($3, problems)
		WHERE id = $1`, id, nullIfEmpty(worker), probs)
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	return nil
}

// storeOutput records a worker's result on a running attempt before
// anything is applied, so that a re-delivered job reuses it instead of
// calling the worker (and paying for it) again.
func storeOutput(ctx context.Context, tx *Tx, id, worker string, out *combine.WorkResult) (bool, error) {
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

// cancelOpen ends every unfinished attempt and open run of an execution
// that is cancelled, so no late delivery applies anything.
func cancelOpen(ctx context.Context, tx *Tx, executionID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE step_attempts SET status = $2, finished_at = $3
		WHERE execution_id = $1 AND status IN ($4, $5, $6, $7, $8, $9)`,
		executionID, attCancelled, tx.now(), attRunning, attProduced, attParked, attWaitingInput, attQuestions, attDocument)
	if err != nil {
		return fmt.Errorf("close attempts: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE step_runs SET status = $2, updated_at = $3 WHERE execution_id = $1 AND status IN ($4, $5)`,
		executionID, runCancelled, tx.now(), runRunning, runFailed)
	if err != nil {
		return fmt.Errorf("close step runs: %w", err)
	}
	return nil
}
