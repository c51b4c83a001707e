package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// advance is the start job: it picks up a pending execution.
func (s *Service) advance(ctx context.Context, executionID string) error {
	return s.withTx(ctx, executionID, func(tx *sql.Tx) error {
		e, err := s.lockExecution(ctx, tx, executionID)
		if err != nil {
			return err
		}
		if e.Status != combine.StatusPending {
			return nil // picked up already (a re-delivered job) or cancelled
		}
		return s.begin(ctx, tx, e)
	})
}

// runStep is the step job: it calls the worker for one attempt (unless
// its output is already stored) and applies the result. Every apply is
// guarded by the attempt's status, so a job delivered twice applies once.
func (s *Service) runStep(ctx context.Context, args workArgs, lastTry bool) error {
	e, err := findExecution(ctx, s.db.R, args.ExecutionID)
	if err != nil {
		return err
	}
	if e.Status != combine.StatusRunning {
		return nil
	}
	a, err := findAttempt(ctx, s.db.R, args.ExecutionID, args.StepPath, args.Attempt)
	if err != nil {
		return err
	}
	if a.Status != attRunning && a.Status != attProduced {
		return nil
	}
	wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
	if err != nil {
		return s.failStep(ctx, args, "workflow is not available: "+combine.ErrorMessage(err))
	}
	if wf.Revision != e.WorkflowRevision {
		s.logger.WarnContext(ctx, "execution continues under another workflow revision", "execution_id", e.ID,
			"workflow_id", wf.ID, "started_with", e.WorkflowRevision, "loaded", wf.Revision)
	}
	out := a.Output
	if a.Status == attRunning {
		run, err := findStepRun(ctx, s.db.R, e.ID, args.StepPath)
		if err != nil {
			return err
		}
		task, err := s.buildTask(ctx, s.db.R, wf, e, run, a)
		var pe *planError
		if errors.As(err, &pe) {
			return s.failStep(ctx, args, pe.Error())
		} else if err != nil {
			return err
		}
		wctx, done := s.watch(ctx, e.ID)
		began := s.now()
		res, err := s.worker.Work(wctx, task)
		cancelled := wctx.Err() != nil && ctx.Err() == nil
		done()
		s.met.observeWorker(s.worker.Name(), outcomeOf(res, err, cancelled), s.now().Sub(began))
		if err != nil || res == nil {
			if cancelled {
				return nil // the execution was cancelled: nothing to apply
			}
			if err == nil {
				err = errors.New("worker returned no result")
			}
			s.setErr(err)
			s.logger.WarnContext(ctx, "worker call failed", "execution_id", e.ID, "step_path", args.StepPath,
				"attempt", args.Attempt, "last_try", lastTry, "error", err)
			if lastTry {
				return s.failStep(ctx, args, fmt.Sprintf("worker %s failed %d times; last error: %s", s.worker.Name(), workerTries, truncate(err.Error(), 300)))
			}
			return fmt.Errorf("worker %s: %w", s.worker.Name(), err)
		}
		out = res
		if !res.AwaitPerson {
			var stored bool
			err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
				stored, err = storeOutput(ctx, tx, a.ID, s.worker.Name(), res)
				return err
			})
			if err != nil {
				return err
			}
			if !stored {
				return nil // another delivery stored (and applies) its own
			}
			a.Status, a.Worker = attProduced, s.worker.Name()
		}
	}
	return s.withTx(ctx, e.ID, func(tx *sql.Tx) error {
		return s.apply(ctx, tx, wf, args, a.Status, out)
	})
}

// apply records a worker's result for an attempt in status from.
func (s *Service) apply(ctx context.Context, tx *sql.Tx, wf *combine.Workflow, args workArgs, from string, out *combine.WorkResult) error {
	e, err := s.lockExecution(ctx, tx, args.ExecutionID)
	if err != nil {
		return err
	}
	if e.Status != combine.StatusRunning {
		return nil
	}
	a, err := findAttempt(ctx, tx, args.ExecutionID, args.StepPath, args.Attempt)
	if err != nil {
		return err
	}
	if a.Status != from {
		return nil
	}
	run, err := findStepRun(ctx, tx, e.ID, args.StepPath)
	if err != nil {
		return err
	}
	now := sqldb.Time(s.now())
	ref := run.Ref
	def, _ := wf.FindStep(ref.StepID)
	if def == nil {
		return s.failExecution(ctx, tx, e, run, fmt.Sprintf("step %q is no longer in workflow %s", ref.StepID, wf.ID))
	}
	switch {
	case out.AwaitPerson:
		if ok, err := moveAttempt(ctx, tx, a.ID, from, attWaitingInput, nil, "", now); err != nil || !ok {
			return err
		}
		schema, err := s.wfs.DocumentSchema(ctx, wf.ID, def.Produces)
		if err != nil {
			return fmt.Errorf("schema of %s: %w", def.Produces, err)
		}
		e.Status, e.CurrentStep, e.UpdatedAt = combine.StatusWaitingInput, &ref, s.now()
		e.Pending = &combine.Pending{
			Kind: combine.PendingInput, StepID: ref.StepID, StepPath: ref.Path, Attempt: ref.Attempt, Role: def.Role,
			DocumentType: def.Produces, ScopeType: ref.ScopeType, ScopeID: ref.ScopeID, Schema: schema,
			Problems: a.Feedback.Problems, ReviewerComment: a.Feedback.ReviewerComment,
			Questions: a.Feedback.Questions, AttemptsLeft: s.cfg.MaxQAAttempts - run.QAFailures,
		}
		if err := s.appendEvent(ctx, tx, e, combine.EventInputNeeded, map[string]any{
			"step_path": ref.Path, "document_type": def.Produces, "scope_id": ref.ScopeID, "attempt": ref.Attempt,
		}); err != nil {
			return err
		}
		return saveExecution(ctx, tx, e)
	case len(out.Questions) > 0:
		if probs := questionProblems(out.Questions); len(probs) > 0 {
			if ok, err := moveAttempt(ctx, tx, a.ID, from, attQAFailed, probs, "", now); err != nil || !ok {
				return err
			}
			return s.qaFailed(ctx, tx, e, run, probs)
		}
		return s.askQuestions(ctx, tx, e, run, a, from, out.Questions)
	case out.Document != nil:
		probs, err := s.qaProblems(ctx, wf, def.Produces, out.Document.Content)
		if err != nil {
			return err
		}
		if len(probs) > 0 {
			if ok, err := moveAttempt(ctx, tx, a.ID, from, attQAFailed, probs, "", now); err != nil || !ok {
				return err
			}
			return s.qaFailed(ctx, tx, e, run, probs)
		}
		return s.storeDocument(ctx, tx, wf, e, run, a, from, "worker:"+s.worker.Name(), out.Document)
	}
	probs := []string{"$: the worker returned neither a document nor questions"}
	if ok, err := moveAttempt(ctx, tx, a.ID, from, attQAFailed, probs, "", now); err != nil || !ok {
		return err
	}
	return s.qaFailed(ctx, tx, e, run, probs)
}

// askQuestions records a clarification round and waits for answers.
func (s *Service) askQuestions(ctx context.Context, tx *sql.Tx, e *execRow, run *stepRun, a *attempt, from string, qs []combine.Question) error {
	now := sqldb.Time(s.now())
	if ok, err := moveAttempt(ctx, tx, a.ID, from, attQuestions, nil, "", now); err != nil || !ok {
		return err
	}
	run.Clarifications++
	if run.Clarifications > s.cfg.MaxClarifications {
		return s.failExecution(ctx, tx, e, run, fmt.Sprintf("the step asked more than %d rounds of clarification questions", s.cfg.MaxClarifications))
	}
	if err := saveStepRun(ctx, tx, run, "", now); err != nil {
		return err
	}
	qj, err := jsonText(qs)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO clarification_rounds (id, execution_id, step_path, attempt, questions, asked_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, newID("clr"), e.ID, run.Ref.Path, a.Number, qj, now); err != nil {
		return fmt.Errorf("insert clarification round: %w", err)
	}
	ref := run.Ref
	e.Status, e.CurrentStep, e.UpdatedAt = combine.StatusWaitingClarification, &ref, s.now()
	e.Pending = &combine.Pending{
		Kind: combine.PendingClarification, StepID: ref.StepID, StepPath: ref.Path, Attempt: ref.Attempt,
		ScopeType: ref.ScopeType, ScopeID: ref.ScopeID, Questions: qs,
	}
	if e.Pending.DocumentType, err = s.producesOf(ctx, e, ref.StepID); err != nil {
		return err
	}
	if err := s.appendEvent(ctx, tx, e, combine.EventClarificationNeeded, map[string]any{
		"step_path": ref.Path, "attempt": ref.Attempt, "questions": qs,
	}); err != nil {
		return err
	}
	return saveExecution(ctx, tx, e)
}

func (s *Service) producesOf(ctx context.Context, e *execRow, stepID string) (string, error) {
	wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
	if err != nil {
		return "", err
	}
	if def, _ := wf.FindStep(stepID); def != nil {
		return def.Produces, nil
	}
	return "", nil
}

// storeDocument stores a document that passed QA as the next version of
// its (type, scope) and moves on.
func (s *Service) storeDocument(ctx context.Context, tx *sql.Tx, wf *combine.Workflow, e *execRow, run *stepRun, a *attempt,
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
		Acceptance: combine.AcceptanceState{Status: acc}, CreatedAt: s.now(),
	}
	if ok, err := moveAttempt(ctx, tx, a.ID, from, attDocument, nil, doc.ID, sqldb.Time(s.now())); err != nil || !ok {
		return err
	}
	if err := insertDocument(ctx, tx, doc, a.Number); err != nil {
		return err
	}
	return s.afterDocument(ctx, tx, wf, e, run, doc)
}

// failStep fails the step of args and its execution, unless the attempt
// was already settled.
func (s *Service) failStep(ctx context.Context, args workArgs, reason string) error {
	return s.withTx(ctx, args.ExecutionID, func(tx *sql.Tx) error {
		e, err := s.lockExecution(ctx, tx, args.ExecutionID)
		if err != nil || e.Status != combine.StatusRunning {
			return err
		}
		run, err := findStepRun(ctx, tx, e.ID, args.StepPath)
		if err != nil {
			return err
		}
		if run.Attempts != args.Attempt {
			return nil
		}
		return s.failExecution(ctx, tx, e, run, reason)
	})
}

// watch returns a context for a worker call that ends when the execution
// is cancelled: at once from this process, within CancelPoll from another.
func (s *Service) watch(ctx context.Context, executionID string) (context.Context, func()) {
	wctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	set := s.inflight[executionID]
	if set == nil {
		set = map[*context.CancelFunc]struct{}{}
		s.inflight[executionID] = set
	}
	set[&cancel] = struct{}{}
	s.mu.Unlock()
	stop := make(chan struct{})
	var wake <-chan struct{}
	unsubscribe := func() {}
	if s.cfg.Subscribe != nil {
		wake, unsubscribe = s.cfg.Subscribe(executionID)
	}
	go func() {
		defer unsubscribe()
		t := time.NewTicker(s.cfg.CancelPoll)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-wctx.Done():
				return
			case <-wake:
			case <-t.C:
			}
			e, err := findExecution(wctx, s.db.R, executionID)
			if err == nil && e.Status != combine.StatusRunning {
				cancel()
				return
			}
		}
	}()
	return wctx, func() {
		close(stop)
		cancel()
		s.mu.Lock()
		delete(set, &cancel)
		if len(set) == 0 {
			delete(s.inflight, executionID)
		}
		s.mu.Unlock()
	}
}

// cancelInflight cancels this process's worker calls for executionID.
func (s *Service) cancelInflight(executionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.inflight[executionID] {
		(*c)()
	}
}

// outcomeOf labels a worker call for the metrics.
func outcomeOf(res *combine.WorkResult, err error, cancelled bool) string {
	switch {
	case cancelled:
		return "cancelled"
	case err != nil || res == nil:
		return "error"
	case res.AwaitPerson:
		return "person"
	case len(res.Questions) > 0:
		return "questions"
	}
	return "document"
}
