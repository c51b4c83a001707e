package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/thecombine/combine"
)

// begin moves a pending execution to running and opens its first work items.
func (s *Service) begin(ctx context.Context, tx *Tx, e *execRow) error {
	now := tx.Now
	e.Status, e.StartedAt = combine.StatusRunning, &now
	if err := s.appendEvent(ctx, tx, e, combine.EventExecutionStarted, map[string]any{
		"workflow_id": e.WorkflowID, "workflow_revision": e.WorkflowRevision, "project_id": e.ProjectID,
	}); err != nil {
		return err
	}
	wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
	if err != nil {
		return s.failExecution(ctx, tx, e, nil, fmt.Sprintf("workflow %q is not available: %s", e.WorkflowID, combine.ErrorMessage(err)))
	}
	return s.schedule(ctx, tx, wf, e)
}

// schedule opens the step instances that may start now, up to
// IterationConcurrency open work items per execution, or completes e
// when every step is done.
func (s *Service) schedule(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow) error {
	runs, err := stepRuns(ctx, tx, e.ID, "")
	if err != nil {
		return err
	}
	status := make(map[string]string, len(runs))
	open := 0
	for _, r := range runs {
		status[r.Ref.Path] = r.Status
		if r.Status == runRunning {
			open++
		}
	}
	start, done, err := frontier(ctx, tx, wf, e, status)
	if err != nil {
		var pe *planError
		if errors.As(err, &pe) {
			return s.failExecution(ctx, tx, e, nil, err.Error())
		}
		return err
	}
	if done && open == 0 {
		now := tx.Now
		e.Status, e.FinishedAt = combine.StatusCompleted, &now
		return s.appendEvent(ctx, tx, e, combine.EventExecutionCompleted, nil)
	}
	ord := len(runs)
	for _, inst := range start {
		if open >= s.cfg.IterationConcurrency {
			break
		}
		ord++
		if err := s.openRun(ctx, tx, wf, e, inst, ord); err != nil {
			return err
		}
		if e.Status.Terminal() {
			return nil // the run could not start: the execution failed
		}
		open++
	}
	return nil
}

// openRun starts a step instance as the execution's ord-th run: its run
// and first attempt. A document seeded at start for this step becomes the
// attempt's document.
func (s *Service) openRun(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow, inst *instance, ord int) error {
	ref := inst.ref
	run := &stepRun{ID: newID("run"), ExecutionID: e.ID, Ref: ref, Status: runRunning, Ord: ord}
	if err := insertStepRun(ctx, tx, run); err != nil {
		return err
	}
	var seed *combine.Document
	if len(ref.Items) == 0 && hasSeeds(e.Inputs) {
		var err error
		if seed, err = seededDocument(ctx, tx, e.ID, ref.Path); err != nil {
			return err
		}
	}
	if seed == nil {
		return s.newAttempt(ctx, tx, wf, e, run, feedback{}, "start")
	}
	run.Attempts = 1
	status := attDocument
	if seed.Acceptance.Status == combine.AcceptanceNotRequired {
		status = attCompleted
	}
	a := &attempt{
		ID: newID("att"), StepRunID: run.ID, ExecutionID: e.ID, Path: ref.Path, Number: 1,
		Key: attemptKey(e.ID, ref.Path, 1), Worker: seed.CreatedBy, Status: status, DocumentID: seed.ID,
		Inputs: []combine.InputRead{},
	}
	if err := insertAttempt(ctx, tx, a); err != nil {
		return err
	}
	if err := saveStepRun(ctx, tx, run); err != nil {
		return err
	}
	if err := s.appendEvent(ctx, tx, e, combine.EventStepStarted, map[string]any{"step_id": ref.StepID, "step_path": ref.Path,
		"scope_type": ref.ScopeType, "scope_id": ref.ScopeID, "attempt": 1, "reason": "seeded"}); err != nil {
		return err
	}
	return s.afterDocument(ctx, tx, wf, e, run, a, seed)
}

// personOnly reports whether no worker is configured (or the person
// worker is): then people do every step.
func (s *Service) personOnly() bool {
	_, person := s.worker.(combine.PersonWorker)
	return person
}

// isPerson reports whether production step def is done by a person: the
// step's worker, else the workflow's, else an LLM when one is configured.
// A step that asks for an LLM while none is configured waits for a person
// too (the definition cannot be worked otherwise).
func (s *Service) isPerson(wf *combine.Workflow, def *combine.StepDef) bool {
	return s.personOnly() || wf.StepWorker(def, true) == combine.WorkerPerson
}

// workerName is who works an attempt of def: "person" or the worker's name.
func (s *Service) workerName(wf *combine.Workflow, def *combine.StepDef) string {
	if s.isPerson(wf, def) {
		return combine.PersonWorker{}.Name()
	}
	return s.worker.Name()
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

// newAttempt opens the next attempt of run: it records the inputs the
// attempt reads, then either waits for a person's submission (a person
// step) or queues the worker's job, in tx.
func (s *Service) newAttempt(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow, run *stepRun, fb feedback, reason string) error {
	def, _ := wf.FindStep(run.Ref.StepID)
	if def == nil || def.IsIteration() {
		return s.failExecution(ctx, tx, e, run, fmt.Sprintf("step %q is no longer a production step of workflow %s", run.Ref.StepID, wf.ID))
	}
	prompts, err := s.promptRefs(ctx, e.WorkflowID, run.Ref.StepID)
	if err != nil {
		return err
	}
	if run.Attempts > 0 && len(fb.Questions) == 0 {
		// A redo (QA remediation, rejection, retry) keeps the
		// clarification rounds so far: the worker must not ask them again.
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
		Key: attemptKey(e.ID, run.Ref.Path, run.Attempts), Worker: s.workerName(wf, def), Status: attRunning, Feedback: fb,
		Prompts: prompts,
	}
	inputs, err := resolveInputs(ctx, tx, wf, e, def, run.Ref)
	var pe *planError
	if errors.As(err, &pe) {
		a.Status = attFailed
		if err := insertAttempt(ctx, tx, a); err != nil {
			return err
		}
		return s.failExecution(ctx, tx, e, run, pe.Error())
	} else if err != nil {
		return err
	}
	a.Inputs = inputs
	person := s.isPerson(wf, def)
	if person {
		a.Status = attWaitingInput
	}
	if err := insertAttempt(ctx, tx, a); err != nil {
		return err
	}
	if err := saveStepRun(ctx, tx, run); err != nil {
		return err
	}
	ref := run.Ref
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
	if person {
		return s.appendEvent(ctx, tx, e, combine.EventInputNeeded, map[string]any{
			"step_path": ref.Path, "document_type": def.Produces, "scope_id": ref.ScopeID, "attempt": ref.Attempt,
		})
	}
	return s.enqueue(ctx, tx, workArgs{ExecutionID: e.ID, StepPath: ref.Path, Attempt: ref.Attempt})
}

// failExecution ends e as failed; run (may be nil) is the failing work
// item. The other open work items are left as they are: a retry
// continues them.
func (s *Service) failExecution(ctx context.Context, tx *Tx, e *execRow, run *stepRun, reason string) error {
	now := tx.Now
	if run != nil {
		run.Status, run.Error = runFailed, reason
		if err := saveStepRun(ctx, tx, run); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE step_attempts SET status = $3, finished_at = $4
			WHERE execution_id = $1 AND step_path = $2 AND status IN ($5, $6, $7, $8, $9, $10)`,
			e.ID, run.Ref.Path, attFailed, tx.now(), attRunning, attProduced, attParked, attWaitingInput, attQuestions, attDocument); err != nil {
			return fmt.Errorf("fail attempt: %w", err)
		}
		if err := s.appendEvent(ctx, tx, e, combine.EventStepFailed, map[string]any{
			"step_id": run.Ref.StepID, "step_path": run.Ref.Path, "attempt": run.Attempts, "error": reason,
		}); err != nil {
			return err
		}
		e.FailedStepPath = run.Ref.Path
	}
	e.Status, e.Error, e.FinishedAt = combine.StatusFailed, reason, &now
	e.setItems(nil)
	return s.appendEvent(ctx, tx, e, combine.EventExecutionFailed, map[string]any{"error": reason, "step_path": e.FailedStepPath})
}

// qaFailed records a failed QA check of run's attempt and either asks for
// remediation (a new attempt with the problems) or fails the step.
func (s *Service) qaFailed(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow, run *stepRun, problems []string) error {
	run.QAFailures++
	if run.QAFailures >= s.cfg.MaxQAAttempts {
		return s.failExecution(ctx, tx, e, run, fmt.Sprintf("the document failed QA %d times: %s", run.QAFailures, joinProblems(problems)))
	}
	return s.newAttempt(ctx, tx, wf, e, run, feedback{Problems: problems}, "remediation")
}

// storeDocument stores a document that passed QA as the next version of
// its (type, scope) and moves on.
func (s *Service) storeDocument(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow, run *stepRun, a *attempt,
	from, createdBy string, sub *combine.Submission) error {
	def, _ := wf.FindStep(run.Ref.StepID)
	acc := combine.AcceptanceNotRequired
	if wf.DocumentTypes[def.Produces].AcceptanceRequired {
		acc = combine.AcceptancePending
	}
	doc := &combine.Document{
		ID: newID("doc"), ProjectID: e.ProjectID, DocumentType: def.Produces, ScopeType: run.Ref.ScopeType,
		ScopeID: run.Ref.ScopeID, Title: titleOf(wf, def.Produces, sub.Title, sub.Content), Content: sub.Content,
		CreatedBy: createdBy, ExecutionID: e.ID, StepID: run.Ref.StepID, StepPath: run.Ref.Path,
		Acceptance: combine.AcceptanceState{Status: acc},
	}
	to := attDocument // waits for a decision
	if acc == combine.AcceptanceNotRequired {
		to = attCompleted
	}
	if ok, err := moveAttemptTo(ctx, tx, a.ID, from, to, doc.ID); err != nil || !ok {
		return err
	}
	a.Status, a.DocumentID = to, doc.ID
	if err := s.insertDocument(ctx, tx, doc, a.Number); err != nil {
		return err
	}
	return s.afterDocument(ctx, tx, wf, e, run, a, doc)
}

// afterDocument moves a work item on once its document passed QA: to a
// decision when its type requires one (the attempt waits in status
// document), else to the next steps (the attempt is completed).
func (s *Service) afterDocument(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow, run *stepRun, a *attempt, doc *combine.Document) error {
	if err := s.appendEvent(ctx, tx, e, combine.EventDocumentProduced, map[string]any{
		"document_id": doc.ID, "document_type": doc.DocumentType, "scope_type": doc.ScopeType, "scope_id": doc.ScopeID,
		"version": doc.Version, "step_path": run.Ref.Path, "attempt": a.Number, "created_by": doc.CreatedBy,
	}); err != nil {
		return err
	}
	dt := wf.DocumentTypes[doc.DocumentType]
	if dt.AcceptanceRequired {
		return s.appendEvent(ctx, tx, e, combine.EventAcceptanceNeeded, map[string]any{
			"step_path": run.Ref.Path, "attempt": a.Number, "document_id": doc.ID, "document_type": doc.DocumentType,
			"version": doc.Version, "accepted_by": dt.AcceptedBy,
		})
	}
	return s.completeStep(ctx, tx, wf, e, run, nil)
}

// completeStep marks run completed and opens what may start next.
func (s *Service) completeStep(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow, run *stepRun, decision map[string]any) error {
	run.Status = runCompleted
	if err := saveStepRun(ctx, tx, run); err != nil {
		return err
	}
	data := map[string]any{"step_id": run.Ref.StepID, "step_path": run.Ref.Path, "attempt": run.Attempts}
	if decision != nil {
		data["acceptance"] = decision
	}
	if err := s.appendEvent(ctx, tx, e, combine.EventStepCompleted, data); err != nil {
		return err
	}
	return s.schedule(ctx, tx, wf, e)
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
