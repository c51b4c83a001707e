package engine

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// maxAnswerLen bounds one clarification answer.
const maxAnswerLen = 10000

// waitingFor loads e in tx and checks that it is in status want (409
// otherwise), returning the current step run and attempt.
func (s *Service) waitingFor(ctx context.Context, tx *sql.Tx, id string, want combine.ExecutionStatus) (*execRow, *stepRun, *attempt, error) {
	e, err := s.lockExecution(ctx, tx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if e.Status != want || e.CurrentStep == nil {
		return nil, nil, nil, combine.Errorf(combine.ECONFLICT, "execution %s is %s, not %s", id, e.Status, want)
	}
	run, err := findStepRun(ctx, tx, id, e.CurrentStep.Path)
	if err != nil {
		return nil, nil, nil, err
	}
	a, err := findAttempt(ctx, tx, id, run.Ref.Path, run.Attempts)
	if err != nil {
		return nil, nil, nil, err
	}
	return e, run, a, nil
}

func callerOf(ctx context.Context) (*combine.AuthContext, error) {
	c := combine.AuthFromContext(ctx)
	if c == nil {
		return nil, combine.Errorf(combine.EUNAUTHORIZED, "authentication required")
	}
	return c, nil
}

// SubmitDocument implements combine.ExecutionService. A person's document
// goes through the same QA gate as a worker's: a failing one is refused
// (400 with the problems), recorded as a failed attempt, and counts
// towards the step's MaxQAAttempts — the last allowed failure fails the
// step and the execution.
func (s *Service) SubmitDocument(ctx context.Context, id string, sub combine.Submission) (*combine.Execution, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	var refused []string
	var exhausted bool
	var out *execRow
	err = s.withTx(ctx, id, func(tx *sql.Tx) error {
		e, run, a, err := s.waitingFor(ctx, tx, id, combine.StatusWaitingInput)
		if err != nil {
			return err
		}
		if a.Status != attWaitingInput {
			return combine.Errorf(combine.ECONFLICT, "step %s is not waiting for a submission", run.Ref.Path)
		}
		wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
		if err != nil {
			return err
		}
		def, _ := wf.FindStep(run.Ref.StepID)
		if def == nil {
			return combine.Errorf(combine.ECONFLICT, "step %q is no longer in workflow %s", run.Ref.StepID, wf.ID)
		}
		probs, err := s.qaProblems(ctx, wf, def.Produces, sub.Content)
		if err != nil {
			return err
		}
		out = e
		if len(probs) > 0 {
			refused = probs
			if ok, err := moveAttempt(ctx, tx, a.ID, attWaitingInput, attQAFailed, probs, "", sqldb.Time(s.now())); err != nil {
				return err
			} else if !ok {
				return combine.Errorf(combine.ECONFLICT, "another submission for step %s came first", run.Ref.Path)
			}
			exhausted = run.QAFailures+1 >= s.cfg.MaxQAAttempts
			return s.qaFailed(ctx, tx, e, run, probs)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE step_attempts SET worker = $2 WHERE id = $1`, a.ID, "user:"+caller.UserID); err != nil {
			return fmt.Errorf("record submitter: %w", err)
		}
		return s.storeDocument(ctx, tx, wf, e, run, a, attWaitingInput, "user:"+caller.UserID, &sub)
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		msg := fmt.Sprintf("the document does not pass QA (%d problems); fix it and submit again", len(refused))
		if exhausted {
			msg = fmt.Sprintf("the document does not pass QA (%d problems) and the step has no attempts left: the execution failed", len(refused))
		}
		return nil, &combine.Error{Code: combine.EINVALID, Message: msg, Details: map[string]any{"problems": refused}}
	}
	return &out.Execution, nil
}

// AnswerClarification implements combine.ExecutionService: every blocking
// question must be answered, unknown ids are refused, and the step runs
// again with all answers given so far.
func (s *Service) AnswerClarification(ctx context.Context, id string, answers map[string]string) (*combine.Execution, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	var out *execRow
	err = s.withTx(ctx, id, func(tx *sql.Tx) error {
		e, run, a, err := s.waitingFor(ctx, tx, id, combine.StatusWaitingClarification)
		if err != nil {
			return err
		}
		if e.Pending == nil {
			return combine.Errorf(combine.ECONFLICT, "execution %s has no open questions", id)
		}
		qs := e.Pending.Questions
		clean, err := checkAnswers(qs, answers)
		if err != nil {
			return err
		}
		aj, err := jsonText(clean)
		if err != nil {
			return err
		}
		now := sqldb.Time(s.now())
		res, err := tx.ExecContext(ctx, `UPDATE clarification_rounds SET answers = $4, answered_by = $5, answered_at = $6
			WHERE execution_id = $1 AND step_path = $2 AND attempt = $3 AND answers IS NULL`,
			id, run.Ref.Path, a.Number, aj, caller.UserID, now)
		if err != nil {
			return fmt.Errorf("record answers: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return combine.Errorf(combine.ECONFLICT, "these questions were already answered")
		}
		fb := feedback{Questions: append(slices.Clone(a.Feedback.Questions), qs...), Answers: map[string]string{}}
		for k, v := range a.Feedback.Answers {
			fb.Answers[k] = v
		}
		for k, v := range clean {
			fb.Answers[k] = v
		}
		out = e
		return s.newAttempt(ctx, tx, e, run, fb, "clarification_answered")
	})
	if err != nil {
		return nil, err
	}
	return &out.Execution, nil
}

// checkAnswers validates answers against the open questions.
func checkAnswers(qs []combine.Question, answers map[string]string) (map[string]string, error) {
	known := map[string]combine.Question{}
	for _, q := range qs {
		known[q.ID] = q
	}
	clean := map[string]string{}
	var unknown []string
	for k, v := range answers {
		if _, ok := known[k]; !ok {
			unknown = append(unknown, k)
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) > maxAnswerLen {
			return nil, combine.Errorf(combine.EINVALID, "the answer to %q is longer than %d characters", k, maxAnswerLen)
		}
		if v != "" {
			clean[k] = v
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, &combine.Error{Code: combine.EINVALID, Message: "unknown question ids: " + strings.Join(unknown, ", "),
			Details: map[string]any{"unknown": unknown}}
	}
	var missing []string
	for _, q := range qs {
		if q.Blocking && clean[q.ID] == "" {
			missing = append(missing, q.ID)
		}
	}
	if len(missing) > 0 {
		return nil, &combine.Error{Code: combine.EINVALID, Message: "blocking questions need an answer: " + strings.Join(missing, ", "),
			Details: map[string]any{"missing": missing}}
	}
	return clean, nil
}

// DecideAcceptance implements combine.ExecutionService. Only a caller
// holding one of the type's accepted_by roles (or admin) may decide; a
// rejection needs a comment and redoes the step with it.
func (s *Service) DecideAcceptance(ctx context.Context, id string, d combine.Decision) (*combine.Execution, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	d.Comment = strings.TrimSpace(d.Comment)
	if !d.Accepted && d.Comment == "" {
		return nil, combine.Errorf(combine.EINVALID, "a rejection needs a comment saying what to change")
	}
	if len(d.Comment) > maxAnswerLen {
		return nil, combine.Errorf(combine.EINVALID, "comment is longer than %d characters", maxAnswerLen)
	}
	var out *execRow
	err = s.withTx(ctx, id, func(tx *sql.Tx) error {
		e, run, a, err := s.waitingFor(ctx, tx, id, combine.StatusWaitingAcceptance)
		if err != nil {
			return err
		}
		if e.Pending == nil || a.Status != attDocument {
			return combine.Errorf(combine.ECONFLICT, "execution %s has no document awaiting a decision", id)
		}
		if !mayDecide(caller, e.Pending.AcceptedBy) {
			return &combine.Error{Code: combine.EFORBIDDEN, Permission: string(combine.PermExecutionWrite),
				Message: fmt.Sprintf("deciding on %s needs one of the reviewer roles %s (or admin)",
					e.Pending.DocumentType, strings.Join(e.Pending.AcceptedBy, ", "))}
		}
		wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
		if err != nil {
			return err
		}
		now := s.now()
		status, to := combine.AcceptanceRejected, attRejected
		if d.Accepted {
			status, to = combine.AcceptanceAccepted, attAccepted
		}
		docID, version := e.Pending.DocumentID, e.Pending.DocumentVersion
		if ok, err := moveAttempt(ctx, tx, a.ID, attDocument, to, nil, "", sqldb.Time(now)); err != nil {
			return err
		} else if !ok {
			return combine.Errorf(combine.ECONFLICT, "the document was already decided")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO acceptance_decisions (id, execution_id, document_id, document_version,
			step_path, accepted, comment, decided_by, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			newID("dec"), id, docID, version, run.Ref.Path, d.Accepted, d.Comment, caller.UserID, sqldb.Time(now)); err != nil {
			return fmt.Errorf("record decision: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE documents SET acceptance_status = $2, decided_by = $3, decided_at = $4,
			decision_comment = $5 WHERE id = $1`, docID, status, caller.UserID, sqldb.Time(now), d.Comment); err != nil {
			return fmt.Errorf("record document acceptance: %w", err)
		}
		out = e
		decision := map[string]any{"accepted": d.Accepted, "comment": d.Comment, "decided_by": caller.UserID,
			"document_id": docID, "version": version}
		if d.Accepted {
			return s.completeStep(ctx, tx, wf, e, run, decision)
		}
		run.Rejections++
		if run.Rejections > s.cfg.MaxRejections {
			return s.failExecution(ctx, tx, e, run, fmt.Sprintf("the document was rejected %d times; last comment: %s", run.Rejections, d.Comment))
		}
		return s.newAttempt(ctx, tx, e, run, feedback{ReviewerComment: d.Comment}, "rejected")
	})
	if err != nil {
		return nil, err
	}
	return &out.Execution, nil
}

// mayDecide reports whether caller may accept or reject: an admin always
// may, anyone else needs one of the reviewer roles.
func mayDecide(caller *combine.AuthContext, roles []string) bool {
	if caller.Can(combine.PermAdmin) {
		return true
	}
	for _, r := range roles {
		if caller.HasRole(r) {
			return true
		}
	}
	return false
}

// CancelExecution implements combine.ExecutionService: it stops the
// execution at once, including a worker call in flight on this instance
// (other instances notice within CancelPoll).
func (s *Service) CancelExecution(ctx context.Context, id string) (*combine.Execution, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	var out *execRow
	err = s.withTx(ctx, id, func(tx *sql.Tx) error {
		e, err := s.lockExecution(ctx, tx, id)
		if err != nil {
			return err
		}
		if e.Status.Terminal() {
			return combine.Errorf(combine.ECONFLICT, "execution %s is already %s", id, e.Status)
		}
		now := s.now()
		if err := closeOpenAttempts(ctx, tx, id, attCancelled, sqldb.Time(now)); err != nil {
			return err
		}
		from := e.Status
		e.Status, e.Pending, e.FinishedAt, e.UpdatedAt = combine.StatusCancelled, nil, &now, now
		if err := s.appendEvent(ctx, tx, e, combine.EventExecutionCancelled, map[string]any{
			"cancelled_by": caller.UserID, "from_status": from,
		}); err != nil {
			return err
		}
		out = e
		return saveExecution(ctx, tx, e)
	})
	if err != nil {
		return nil, err
	}
	s.cancelInflight(id)
	return &out.Execution, nil
}
