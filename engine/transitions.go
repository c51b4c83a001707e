package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// planError is a problem with the workflow or the documents that makes
// the next step impossible to work out: the execution fails with it.
type planError struct{ err error }

func (p *planError) Error() string { return p.err.Error() }
func (p *planError) Unwrap() error { return p.err }

// begin moves a pending execution to running and starts its first step.
func (s *Service) begin(ctx context.Context, tx *sql.Tx, e *execRow) error {
	now := s.now()
	e.Status, e.StartedAt, e.UpdatedAt = combine.StatusRunning, &now, now
	if err := s.appendEvent(ctx, tx, e, combine.EventExecutionStarted, map[string]any{
		"workflow_id": e.WorkflowID, "workflow_revision": e.WorkflowRevision, "project_id": e.ProjectID,
	}); err != nil {
		return err
	}
	wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
	if err != nil {
		return s.failExecution(ctx, tx, e, nil, fmt.Sprintf("workflow %q is not available: %s", e.WorkflowID, combine.ErrorMessage(err)))
	}
	return s.startNext(ctx, tx, wf, e)
}

// startNext starts the next step of e, or completes e when none is left.
func (s *Service) startNext(ctx context.Context, tx *sql.Tx, wf *combine.Workflow, e *execRow) error {
	done, err := completedPaths(ctx, tx, e.ID)
	if err != nil {
		return err
	}
	inst, err := nextStep(ctx, tx, wf, e, done)
	if err != nil {
		var pe *planError
		if errors.As(err, &pe) || combine.ErrorCode(err) == combine.ENOTFOUND {
			return s.failExecution(ctx, tx, e, nil, err.Error())
		}
		return err
	}
	now := s.now()
	e.UpdatedAt = now
	if inst == nil {
		e.Status, e.CurrentStep, e.Pending, e.FinishedAt = combine.StatusCompleted, nil, nil, &now
		if err := s.appendEvent(ctx, tx, e, combine.EventExecutionCompleted, nil); err != nil {
			return err
		}
		return saveExecution(ctx, tx, e)
	}
	ref := inst.ref
	ref.Attempt = 1
	run := &stepRun{ID: newID("run"), ExecutionID: e.ID, Ref: ref, Status: runRunning, Attempts: 0}
	if err := insertStepRun(ctx, tx, run, sqldb.Time(now)); err != nil {
		return err
	}
	return s.newAttempt(ctx, tx, e, run, feedback{}, "start")
}

// promptRefs returns the prompt versions and hashes a step runs with, so
// that every attempt records exactly which prompts it used.
func (s *Service) promptRefs(ctx context.Context, workflowID, stepID string) ([]combine.PromptRef, error) {
	sp, err := s.wfs.StepPrompts(ctx, workflowID, stepID)
	if err != nil {
		return nil, fmt.Errorf("prompts of step %s: %w", stepID, err)
	}
	var refs []combine.PromptRef
	for _, p := range []combine.ResolvedPrompt{sp.Role, sp.Task} {
		if p.Name != "" {
			refs = append(refs, p.PromptRef)
		}
	}
	return refs, nil
}

// newAttempt opens the next attempt of run and queues its work.
func (s *Service) newAttempt(ctx context.Context, tx *sql.Tx, e *execRow, run *stepRun, fb feedback, reason string) error {
	now := sqldb.Time(s.now())
	prompts, err := s.promptRefs(ctx, e.WorkflowID, run.Ref.StepID)
	if err != nil {
		return err
	}
	if run.Attempts > 0 && len(fb.Questions) == 0 {
		// A redo (QA remediation, rejection) keeps the clarification
		// rounds so far: the worker must not ask them again.
		prev, err := findAttempt(ctx, tx, e.ID, run.Ref.Path, run.Attempts)
		if err != nil {
			return err
		}
		fb.Questions, fb.Answers = prev.Feedback.Questions, prev.Feedback.Answers
	}
	run.Attempts++
	run.Ref.Attempt = run.Attempts
	a := &attempt{
		ID: newID("att"), StepRunID: run.ID, ExecutionID: e.ID, Path: run.Ref.Path, Number: run.Attempts,
		Key: attemptKey(e.ID, run.Ref.Path, run.Attempts), Worker: s.worker.Name(), Status: attRunning, Feedback: fb,
		Prompts: prompts,
	}
	if err := insertAttempt(ctx, tx, a, now); err != nil {
		return err
	}
	if err := saveStepRun(ctx, tx, run, "", now); err != nil {
		return err
	}
	ref := run.Ref
	e.Status, e.CurrentStep, e.Pending, e.UpdatedAt = combine.StatusRunning, &ref, nil, s.now()
	data := map[string]any{"step_id": ref.StepID, "step_path": ref.Path, "scope_type": ref.ScopeType,
		"scope_id": ref.ScopeID, "attempt": ref.Attempt, "reason": reason}
	if len(fb.Problems) > 0 {
		data["problems"] = fb.Problems
	}
	if fb.ReviewerComment != "" {
		data["reviewer_comment"] = fb.ReviewerComment
	}
	if err := s.appendEvent(ctx, tx, e, combine.EventStepStarted, data); err != nil {
		return err
	}
	if err := saveExecution(ctx, tx, e); err != nil {
		return err
	}
	return s.enqueue(ctx, tx, workArgs{ExecutionID: e.ID, StepPath: ref.Path, Attempt: ref.Attempt})
}

// failExecution ends e as failed; run (may be nil) is the failing step.
func (s *Service) failExecution(ctx context.Context, tx *sql.Tx, e *execRow, run *stepRun, reason string) error {
	now := s.now()
	if run != nil {
		run.Status = runFailed
		if err := saveStepRun(ctx, tx, run, reason, sqldb.Time(now)); err != nil {
			return err
		}
		if err := s.appendEvent(ctx, tx, e, combine.EventStepFailed, map[string]any{
			"step_id": run.Ref.StepID, "step_path": run.Ref.Path, "attempt": run.Attempts, "error": reason,
		}); err != nil {
			return err
		}
	}
	if err := closeOpenAttempts(ctx, tx, e.ID, attFailed, sqldb.Time(now)); err != nil {
		return err
	}
	e.Status, e.Pending, e.Error, e.FinishedAt, e.UpdatedAt = combine.StatusFailed, nil, reason, &now, now
	if err := s.appendEvent(ctx, tx, e, combine.EventExecutionFailed, map[string]any{"error": reason}); err != nil {
		return err
	}
	return saveExecution(ctx, tx, e)
}

// qaFailed records a failed QA check of run's attempt and either asks for
// remediation (a new attempt with the problems) or fails the step.
func (s *Service) qaFailed(ctx context.Context, tx *sql.Tx, e *execRow, run *stepRun, problems []string) error {
	run.QAFailures++
	if run.QAFailures >= s.cfg.MaxQAAttempts {
		return s.failExecution(ctx, tx, e, run, fmt.Sprintf("the document failed QA %d times: %s", run.QAFailures, joinProblems(problems)))
	}
	return s.newAttempt(ctx, tx, e, run, feedback{Problems: problems}, "remediation")
}

// afterDocument moves on once a document passed QA: to waiting_acceptance
// when its type requires a decision, else to the next step.
func (s *Service) afterDocument(ctx context.Context, tx *sql.Tx, wf *combine.Workflow, e *execRow, run *stepRun, doc *combine.Document) error {
	if err := s.appendEvent(ctx, tx, e, combine.EventDocumentProduced, map[string]any{
		"document_id": doc.ID, "document_type": doc.DocumentType, "scope_type": doc.ScopeType, "scope_id": doc.ScopeID,
		"version": doc.Version, "step_path": run.Ref.Path, "attempt": run.Attempts, "created_by": doc.CreatedBy,
	}); err != nil {
		return err
	}
	dt := wf.DocumentTypes[doc.DocumentType]
	if dt.AcceptanceRequired {
		ref := run.Ref
		e.Status, e.CurrentStep, e.UpdatedAt = combine.StatusWaitingAcceptance, &ref, s.now()
		e.Pending = &combine.Pending{
			Kind: combine.PendingAcceptance, StepID: ref.StepID, StepPath: ref.Path, Attempt: ref.Attempt,
			DocumentType: doc.DocumentType, ScopeType: doc.ScopeType, ScopeID: doc.ScopeID,
			DocumentID: doc.ID, DocumentVersion: doc.Version, AcceptedBy: dt.AcceptedBy,
		}
		if err := s.appendEvent(ctx, tx, e, combine.EventAcceptanceNeeded, map[string]any{
			"step_path": ref.Path, "document_id": doc.ID, "document_type": doc.DocumentType,
			"version": doc.Version, "accepted_by": dt.AcceptedBy,
		}); err != nil {
			return err
		}
		return saveExecution(ctx, tx, e)
	}
	return s.completeStep(ctx, tx, wf, e, run, nil)
}

// completeStep marks run completed and starts the next step.
func (s *Service) completeStep(ctx context.Context, tx *sql.Tx, wf *combine.Workflow, e *execRow, run *stepRun, decision map[string]any) error {
	run.Status = runCompleted
	if err := saveStepRun(ctx, tx, run, "", sqldb.Time(s.now())); err != nil {
		return err
	}
	data := map[string]any{"step_id": run.Ref.StepID, "step_path": run.Ref.Path, "attempt": run.Attempts}
	if decision != nil {
		data["acceptance"] = decision
	}
	if err := s.appendEvent(ctx, tx, e, combine.EventStepCompleted, data); err != nil {
		return err
	}
	return s.startNext(ctx, tx, wf, e)
}

func joinProblems(p []string) string {
	const max = 5
	out := ""
	for i, x := range p {
		if i == max {
			out += fmt.Sprintf("; and %d more", len(p)-max)
			break
		}
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}
