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

// settle ends every transition: it rebuilds e's open work items from the
// step runs and their current attempts (the source of truth), derives the
// status from them, and saves e. A terminal execution has no open items.
func (s *Service) settle(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow) error {
	if e.Status.Terminal() || e.Status == combine.StatusPending {
		e.setItems(nil)
		return saveExecution(ctx, tx, e)
	}
	items, err := s.workItems(ctx, tx, wf, e)
	if err != nil {
		return err
	}
	e.setItems(items)
	e.Status = combine.SummarizeStatus(items)
	return saveExecution(ctx, tx, e)
}

// openItem is an open step run with its current attempt.
type openItem struct {
	run       *stepRun
	att       *attempt
	startedAt time.Time
}

// openItems loads the open runs of an execution with their current
// attempts, in the order they were opened.
func openItems(ctx context.Context, q querier, executionID string) ([]openItem, error) {
	rows, err := q.QueryContext(ctx, `SELECT r.id, r.execution_id, r.ref, r.status, r.ord, r.attempts, r.qa_failures,
		r.rejections, r.clarifications, r.error, a.id, a.step_run_id, a.execution_id, a.step_path, a.attempt,
		a.idempotency_key, a.worker, a.status, a.feedback, a.inputs, a.output, a.document_id, a.started_at
		FROM step_runs r JOIN step_attempts a ON a.execution_id = r.execution_id AND a.step_path = r.step_path AND a.attempt = r.attempts
		WHERE r.execution_id = $1 AND r.status = $2 ORDER BY r.ord, r.created_at, r.id`, executionID, runRunning)
	if err != nil {
		return nil, fmt.Errorf("list open work items: %w", err)
	}
	defer rows.Close()
	var out []openItem
	for rows.Next() {
		var it openItem
		var r stepRun
		var a attempt
		var ref, fb, inputs string
		var output, doc sql.NullString
		if err := rows.Scan(&r.ID, &r.ExecutionID, &ref, &r.Status, &r.Ord, &r.Attempts, &r.QAFailures, &r.Rejections,
			&r.Clarifications, &r.Error, &a.ID, &a.StepRunID, &a.ExecutionID, &a.Path, &a.Number, &a.Key, &a.Worker,
			&a.Status, &fb, &inputs, &output, &doc, sqldb.TimeDest{T: &it.startedAt}); err != nil {
			return nil, fmt.Errorf("scan open work item: %w", err)
		}
		if err := json.Unmarshal([]byte(ref), &r.Ref); err != nil {
			return nil, fmt.Errorf("decode step ref: %w", err)
		}
		r.Ref.Attempt = r.Attempts
		if err := json.Unmarshal([]byte(fb), &a.Feedback); err != nil {
			return nil, fmt.Errorf("decode feedback: %w", err)
		}
		if err := json.Unmarshal([]byte(inputs), &a.Inputs); err != nil {
			return nil, fmt.Errorf("decode inputs: %w", err)
		}
		a.DocumentID = doc.String
		it.run, it.att = &r, &a
		out = append(out, it)
	}
	return out, rows.Err()
}

// workItems builds the view of e's open work items.
func (s *Service) workItems(ctx context.Context, q querier, wf *combine.Workflow, e *execRow) ([]*combine.WorkItem, error) {
	open, err := openItems(ctx, q, e.ID)
	if err != nil {
		return nil, err
	}
	items := make([]*combine.WorkItem, 0, len(open))
	for _, o := range open {
		it, err := s.workItem(ctx, q, wf, e, o)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func (s *Service) workItem(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, o openItem) (*combine.WorkItem, error) {
	r, a := o.run, o.att
	it := &combine.WorkItem{
		StepPath: r.Ref.Path, StepID: r.Ref.StepID, Attempt: a.Number, ScopeType: r.Ref.ScopeType, ScopeID: r.Ref.ScopeID,
		Inputs: a.Inputs, Problems: a.Feedback.Problems, ReviewerComment: a.Feedback.ReviewerComment,
		AttemptsLeft: max(s.cfg.MaxQAAttempts-r.QAFailures, 0), RejectionsLeft: max(s.cfg.MaxRejections-r.Rejections, 0),
		OpenedAt: o.startedAt,
	}
	if it.Inputs == nil {
		it.Inputs = []combine.InputRead{}
	}
	if def, _ := wf.FindStep(r.Ref.StepID); def != nil {
		it.Role, it.DocumentType = def.Role, def.Produces
		it.AcceptedBy = wf.DocumentTypes[def.Produces].AcceptedBy
	}
	if n := len(r.Ref.Items); n > 0 {
		last := r.Ref.Items[n-1]
		it.Item = &combine.ItemRef{EntityType: last.EntityType, ID: last.ItemID}
		if _, raw, err := itemAt(ctx, q, wf, e, r.Ref, n-1); err == nil {
			it.Item.Content = raw
		}
	}
	switch a.Status {
	case attWaitingInput:
		it.Kind = combine.WorkInput
	case attQuestions:
		it.Kind = combine.WorkClarification
		var qs sql.NullString
		err := q.QueryRowContext(ctx, `SELECT questions FROM clarification_rounds WHERE execution_id = $1 AND step_path = $2 AND attempt = $3`,
			e.ID, r.Ref.Path, a.Number).Scan(&qs)
		if err != nil {
			return nil, fmt.Errorf("read clarification round: %w", err)
		}
		if err := json.Unmarshal([]byte(qs.String), &it.Questions); err != nil {
			return nil, fmt.Errorf("decode questions: %w", err)
		}
	case attDocument:
		it.Kind = combine.WorkAcceptance
		ref := &combine.DocumentRef{DocumentID: a.DocumentID}
		if err := q.QueryRowContext(ctx, `SELECT version FROM documents WHERE id = $1`, a.DocumentID).Scan(&ref.Version); err != nil {
			return nil, fmt.Errorf("read document under review: %w", err)
		}
		it.Document = ref
	default: // running, produced or parked: with a worker
		it.Kind, it.Worker = combine.WorkRunning, a.Worker
	}
	return it, nil
}

// withSchemas returns e with the JSON schema of each input work item
// filled in (single-execution responses and conflicts).
func (s *Service) withSchemas(ctx context.Context, e *execRow) *combine.Execution {
	out := e.Execution
	out.Pending = make([]*combine.WorkItem, len(e.Pending))
	for i, it := range e.Pending {
		cp := *it
		if cp.Kind == combine.WorkInput && cp.DocumentType != "" {
			cp.Schema, _ = s.wfs.DocumentSchema(ctx, e.WorkflowID, cp.DocumentType)
		}
		out.Pending[i] = &cp
	}
	return &out
}

// conflict is the error for an action whose work item is not open now:
// 409 with the current pending list, so a client can act on what is.
func (s *Service) conflict(ctx context.Context, e *execRow, format string, args ...any) error {
	return &combine.Error{Code: combine.ECONFLICT, Message: fmt.Sprintf(format, args...),
		Details: map[string]any{"status": e.Status, "pending": s.withSchemas(ctx, e).Pending}}
}

// rebuildViews rebuilds the work-item view of started executions that do
// not have one (written by an older engine).
func (s *Service) rebuildViews(ctx context.Context) error {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id FROM executions WHERE pending IS NULL AND status NOT IN ($1, $2, $3, $4)`,
		string(combine.StatusPending), string(combine.StatusCompleted), string(combine.StatusFailed), string(combine.StatusCancelled))
	if err != nil {
		return fmt.Errorf("find executions to rebuild: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		err := s.withTx(ctx, func(tx *Tx) error {
			e, err := s.lockExecution(ctx, tx, id)
			if err != nil {
				return err
			}
			wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
			if err != nil {
				return err
			}
			return s.settle(ctx, tx, wf, e)
		})
		if err != nil {
			return fmt.Errorf("rebuild execution %s: %w", id, err)
		}
	}
	return nil
}
