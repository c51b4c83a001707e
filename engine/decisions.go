package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/thecombine/combine"
)

// DecideAcceptance implements combine.ExecutionService. Only a caller
// holding one of the type's accepted_by roles (or admin) may decide; a
// rejection needs a comment and redoes the step with it. An acceptance
// with content stores the reviewer's corrected document as the next
// version — through the same QA gate as any document — and accepts that
// version in the same transaction; the decision records both versions.
func (s *Service) DecideAcceptance(ctx context.Context, id string, d combine.Decision) (*combine.Execution, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkItemRef(d.StepPath, d.Attempt, false); err != nil {
		return nil, err
	}
	if d.DocumentID == "" || d.Version < 1 {
		return nil, combine.Errorf(combine.EINVALID, `"document_id" and "version" must name the document version under review`)
	}
	d.Comment = strings.TrimSpace(d.Comment)
	if err := checkText(`"comment"`, d.Comment, maxAnswerLen); err != nil {
		return nil, err
	}
	if err := checkText(`"title"`, d.Title, 0); err != nil {
		return nil, err
	}
	if !d.Accepted && d.Comment == "" {
		return nil, combine.Errorf(combine.EINVALID, "a rejection needs a comment saying what to change")
	}
	edited := len(d.Content) > 0
	if edited {
		if !d.Accepted {
			return nil, combine.Errorf(combine.EINVALID, `"content" (a corrected document) goes with an acceptance, not a rejection`)
		}
		if err := checkDocument(d.Content); err != nil {
			return nil, err
		}
	}
	var out *execRow
	var denied *combine.Error
	err = s.withTx(ctx, func(tx *Tx) error {
		e, run, a, err := s.openWorkItem(ctx, tx, id, d.StepPath, d.Attempt, attDocument)
		if err != nil {
			return err
		}
		doc, err := findDocument(ctx, tx, a.DocumentID)
		if err != nil {
			return err
		}
		if doc.ID != d.DocumentID || doc.Version != d.Version {
			return s.conflict(ctx, e, "work item %q waits for a decision on %s version %d, not %s version %d",
				d.StepPath, doc.ID, doc.Version, d.DocumentID, d.Version)
		}
		wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
		if err != nil {
			return err
		}
		roles := wf.DocumentTypes[doc.DocumentType].AcceptedBy
		if !mayDecide(caller, roles) {
			denied = &combine.Error{Code: combine.EFORBIDDEN,
				Message: fmt.Sprintf("deciding on %s needs one of the reviewer roles %s (or admin)", doc.DocumentType, strings.Join(roles, ", ")),
				Details: map[string]any{"required_roles": roles}}
			return denied
		}
		out = e
		decision := map[string]any{"accepted": d.Accepted, "comment": d.Comment, "decided_by": caller.UserID,
			"document_id": doc.ID, "version": doc.Version}
		user := "user:" + caller.UserID
		var accepted *combine.Document
		if edited {
			probs, err := s.qaProblems(ctx, wf, doc.DocumentType, d.Content)
			if err != nil {
				return err
			}
			if len(probs) > 0 {
				return &combine.Error{Code: combine.EINVALID,
					Message: fmt.Sprintf("the corrected document does not pass QA (%d problems); nothing was changed", len(probs)),
					Details: map[string]any{"problems": probs}}
			}
			title := d.Title
			if strings.TrimSpace(title) == "" && !hasTitle(d.Content) {
				title = doc.Title
			}
			now := tx.Now
			accepted = &combine.Document{
				ID: newID("doc"), ProjectID: e.ProjectID, DocumentType: doc.DocumentType, ScopeType: doc.ScopeType,
				ScopeID: doc.ScopeID, Title: titleOf(wf, doc.DocumentType, title, d.Content), Content: d.Content,
				CreatedBy: user, ExecutionID: e.ID, StepID: doc.StepID, StepPath: doc.StepPath,
				Acceptance: combine.AcceptanceState{Status: combine.AcceptanceAccepted, DecidedBy: caller.UserID, DecidedAt: &now, Comment: d.Comment},
			}
			if err := s.insertDocument(ctx, tx, accepted, a.Number); err != nil {
				return err
			}
			if err := setAcceptance(ctx, tx, doc.ID, combine.AcceptanceSuperseded, caller.UserID, d.Comment); err != nil {
				return err
			}
			if err := s.appendEvent(ctx, tx, e, combine.EventDocumentProduced, map[string]any{
				"document_id": accepted.ID, "document_type": accepted.DocumentType, "scope_type": accepted.ScopeType,
				"scope_id": accepted.ScopeID, "version": accepted.Version, "step_path": run.Ref.Path, "attempt": a.Number,
				"created_by": accepted.CreatedBy, "edit_of": doc.ID,
			}); err != nil {
				return err
			}
			decision["accepted_document_id"], decision["accepted_version"] = accepted.ID, accepted.Version
		} else {
			status := combine.AcceptanceRejected
			if d.Accepted {
				status = combine.AcceptanceAccepted
			}
			if err := setAcceptance(ctx, tx, doc.ID, status, caller.UserID, d.Comment); err != nil {
				return err
			}
		}
		to := attRejected
		if d.Accepted {
			to = attAccepted
		}
		if ok, err := moveAttempt(ctx, tx, a.ID, attDocument, to); err != nil {
			return err
		} else if !ok {
			return s.conflict(ctx, e, "the document was already decided")
		}
		var accID any
		var accVersion any
		if accepted != nil {
			accID, accVersion = accepted.ID, accepted.Version
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO acceptance_decisions (id, execution_id, document_id, document_version,
			step_path, attempt, accepted, comment, decided_by, decided_at, accepted_document_id, accepted_version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			newID("dec"), id, doc.ID, doc.Version, run.Ref.Path, a.Number, d.Accepted, d.Comment, caller.UserID, tx.now(),
			accID, accVersion); err != nil {
			return fmt.Errorf("record decision: %w", err)
		}
		if d.Accepted {
			if err := s.completeStep(ctx, tx, wf, e, run, decision); err != nil {
				return err
			}
		} else if run.Rejections++; run.Rejections > s.cfg.MaxRejections {
			if err := s.failExecution(ctx, tx, e, run, fmt.Sprintf("the document was rejected %d times; last comment: %s", run.Rejections, d.Comment)); err != nil {
				return err
			}
		} else if err := s.newAttempt(ctx, tx, wf, e, run, feedback{ReviewerComment: d.Comment}, "rejected"); err != nil {
			return err
		}
		return s.settle(ctx, tx, wf, e)
	})
	if denied != nil {
		s.audit(ctx, combine.AuditEntry{Action: combine.AuditPermissionDenied, Target: "execution:" + id + " acceptance " + d.StepPath,
			Outcome: combine.OutcomeFailure, Reason: "missing reviewer role (one of: " + strings.Join(denied.Details["required_roles"].([]string), ", ") + ")"})
	}
	if err != nil {
		return nil, err
	}
	return s.withSchemas(ctx, out), nil
}

// hasTitle reports whether content has a non-blank "title" of its own.
func hasTitle(content []byte) bool {
	var v struct {
		Title string `json:"title"`
	}
	return json.Unmarshal(content, &v) == nil && strings.TrimSpace(v.Title) != ""
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

// RetryExecution implements combine.ExecutionService. The failed work
// item runs again as a new attempt with a fresh budget (QA attempts,
// rejections, clarification rounds), told what went wrong before; work
// items that were open when the execution failed continue (a stored
// worker result is applied, a parked call is made); everything produced
// and accepted stays.
func (s *Service) RetryExecution(ctx context.Context, id string, comment string) (*combine.Execution, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	comment = strings.TrimSpace(comment)
	if err := checkText(`"comment"`, comment, maxAnswerLen); err != nil {
		return nil, err
	}
	var out *execRow
	var failedPath string
	err = s.withTx(ctx, func(tx *Tx) error {
		e, err := s.lockExecution(ctx, tx, id)
		if err != nil {
			return err
		}
		if e.Status != combine.StatusFailed {
			return s.conflict(ctx, e, "execution %s is %s: only a failed execution can be retried", id, e.Status)
		}
		wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
		if err != nil {
			return err
		}
		failedPath = e.FailedStepPath
		e.Retries++
		e.Status, e.Error, e.FailedStepPath, e.FinishedAt = combine.StatusRunning, "", "", nil
		if err := s.appendEvent(ctx, tx, e, combine.EventExecutionRetried, map[string]any{
			"retried_by": caller.UserID, "comment": comment, "step_path": failedPath, "retry": e.Retries,
		}); err != nil {
			return err
		}
		failed, err := stepRuns(ctx, tx, e.ID, runFailed)
		if err != nil {
			return err
		}
		for _, run := range failed {
			fb, err := retryFeedback(ctx, tx, e.ID, run, comment)
			if err != nil {
				return err
			}
			run.Status, run.Error = runRunning, ""
			run.QAFailures, run.Rejections, run.Clarifications = 0, 0, 0
			if err := s.newAttempt(ctx, tx, wf, e, run, fb, "retry"); err != nil {
				return err
			}
			if e.Status.Terminal() {
				return s.settle(ctx, tx, wf, e) // it failed again at once (e.g. an input is missing)
			}
		}
		if err := s.resume(ctx, tx, e); err != nil {
			return err
		}
		if err := s.schedule(ctx, tx, wf, e); err != nil {
			return err
		}
		out = e
		return s.settle(ctx, tx, wf, e)
	})
	if err != nil {
		return nil, err
	}
	if out == nil { // failed again at once
		e, err := s.FindExecution(ctx, id)
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	s.audit(ctx, combine.AuditEntry{Action: combine.AuditExecutionRetry, Target: "execution:" + id, Outcome: combine.OutcomeSuccess,
		Reason: comment, Details: map[string]any{"step_path": failedPath, "retry": out.Retries}})
	return s.withSchemas(ctx, out), nil
}

// retryFeedback is what the new attempt of a failed run is told: the QA
// problems or the reviewer's comment that exhausted it, and the comment
// of the person retrying.
func retryFeedback(ctx context.Context, tx *Tx, executionID string, run *stepRun, comment string) (feedback, error) {
	fb := feedback{RetryComment: comment}
	if run.Attempts == 0 {
		return fb, nil
	}
	last, err := findAttempt(ctx, tx, executionID, run.Ref.Path, run.Attempts)
	if err != nil {
		return fb, err
	}
	fb.Problems = last.Problems
	if last.Status == attRejected {
		err := tx.QueryRowContext(ctx, `SELECT comment FROM acceptance_decisions WHERE execution_id = $1 AND step_path = $2
			AND attempt = $3 ORDER BY decided_at DESC LIMIT 1`, executionID, run.Ref.Path, last.Number).Scan(&fb.ReviewerComment)
		if err != nil {
			return fb, fmt.Errorf("read last rejection: %w", err)
		}
	}
	return fb, nil
}

// resume continues the work items left open when e failed: a parked
// attempt is running again, and its job (or the job applying a stored
// result) is queued anew. A job still in flight is harmless: applying
// is guarded by the attempt's status.
func (s *Service) resume(ctx context.Context, tx *Tx, e *execRow) error {
	open, err := openItems(ctx, tx, e.ID)
	if err != nil {
		return err
	}
	for _, o := range open {
		switch o.att.Status {
		case attParked:
			if _, err := moveAttempt(ctx, tx, o.att.ID, attParked, attRunning); err != nil {
				return err
			}
		case attProduced:
		default:
			continue
		}
		if err := s.enqueue(ctx, tx, workArgs{ExecutionID: e.ID, StepPath: o.run.Ref.Path, Attempt: o.att.Number}); err != nil {
			return err
		}
	}
	return nil
}

// CancelExecution implements combine.ExecutionService: it stops the
// execution at once, including worker calls in flight on this instance
// (other instances notice within CancelPoll, or at once through the
// event notifier).
func (s *Service) CancelExecution(ctx context.Context, id string) (*combine.Execution, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	var out *execRow
	err = s.withTx(ctx, func(tx *Tx) error {
		e, err := s.lockExecution(ctx, tx, id)
		if err != nil {
			return err
		}
		if e.Status.Terminal() {
			return s.conflict(ctx, e, "execution %s is already %s", id, e.Status)
		}
		if err := cancelOpen(ctx, tx, id); err != nil {
			return err
		}
		from := e.Status
		now := tx.Now
		e.Status, e.FinishedAt = combine.StatusCancelled, &now
		if err := s.appendEvent(ctx, tx, e, combine.EventExecutionCancelled, map[string]any{
			"cancelled_by": caller.UserID, "from_status": from,
		}); err != nil {
			return err
		}
		out = e
		tx.AfterCommit(func() { s.cancelInflight(id) })
		return s.settle(ctx, tx, nil, e)
	})
	if err != nil {
		return nil, err
	}
	return &out.Execution, nil
}

// audit records e in the audit log when one is configured; a failure is
// logged, never returned (the action itself has happened).
func (s *Service) audit(ctx context.Context, e combine.AuditEntry) {
	if s.cfg.Audit == nil {
		return
	}
	if c := combine.AuthFromContext(ctx); c != nil && e.ActorID == "" {
		e.ActorID, e.Actor = c.UserID, c.Email
	}
	if err := s.cfg.Audit.RecordAudit(ctx, e); err != nil {
		s.logger.WarnContext(ctx, "audit", "action", e.Action, "error", err)
	}
}
