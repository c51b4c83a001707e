package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/thecombine/combine"
)

// advance is the start job: it picks up a pending execution.
func (s *Service) advance(ctx context.Context, executionID string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		e, err := s.lockExecution(ctx, tx, executionID)
		if err != nil {
			return err
		}
		if e.Status != combine.StatusPending {
			return nil // picked up already (a re-delivered job) or cancelled
		}
		if err := s.begin(ctx, tx, e); err != nil {
			return err
		}
		wf, _ := s.wfs.FindWorkflow(ctx, e.WorkflowID) // nil only when begin failed e
		return s.settle(ctx, tx, wf, e)
	})
}

// runStep is the step job: it calls the worker for one attempt (unless
// its output is already stored) and applies the result. Every apply is
// guarded by the attempt's status, so a job delivered twice applies once.
// While the execution is failed, a running attempt is parked (a retry
// re-opens it) and a stored output waits to be applied.
func (s *Service) runStep(ctx context.Context, args workArgs, lastTry bool) error {
	e, err := findExecution(ctx, s.db.R, args.ExecutionID)
	if err != nil {
		return err
	}
	if e.Status == combine.StatusCancelled || e.Status == combine.StatusCompleted {
		return nil
	}
	a, err := findAttempt(ctx, s.db.R, args.ExecutionID, args.StepPath, args.Attempt)
	if err != nil {
		return err
	}
	if a.Status != attRunning && a.Status != attProduced {
		return nil
	}
	if e.Status == combine.StatusFailed {
		return s.park(ctx, args)
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
			var sf *combine.StepFailure
			if errors.As(err, &sf) {
				// The worker has retried what was worth retrying (or a
				// budget forbids the call): fail the work item now, with
				// the worker's reason; a retry of the execution resumes it.
				s.logger.WarnContext(ctx, "worker failed the step", "execution_id", e.ID, "step_path", args.StepPath,
					"attempt", args.Attempt, "reason", sf.Reason, "error", err)
				return s.failStep(ctx, args, truncate(sf.Reason, 1000))
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
			err := s.withTx(ctx, func(tx *Tx) error {
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
	return s.withTx(ctx, func(tx *Tx) error {
		return s.apply(ctx, tx, wf, args, a.Status, out)
	})
}

// park sets a running attempt of a failed execution aside: a retry
// re-opens it. Both lock the execution, so a park and a retry never cross.
func (s *Service) park(ctx context.Context, args workArgs) error {
	return s.withTx(ctx, func(tx *Tx) error {
		e, err := s.lockExecution(ctx, tx, args.ExecutionID)
		if err != nil || e.Status != combine.StatusFailed {
			return err // a retry came first: the job will be delivered again
		}
		a, err := findAttempt(ctx, tx, args.ExecutionID, args.StepPath, args.Attempt)
		if err != nil {
			return err
		}
		_, err = moveAttempt(ctx, tx, a.ID, attRunning, attParked)
		return err
	})
}

// apply records a worker's result for an attempt in status from.
func (s *Service) apply(ctx context.Context, tx *Tx, wf *combine.Workflow, args workArgs, from string, out *combine.WorkResult) error {
	e, err := s.lockExecution(ctx, tx, args.ExecutionID)
	if err != nil {
		return err
	}
	if e.Status.Terminal() {
		if e.Status == combine.StatusFailed && from == attRunning {
			a, err := findAttempt(ctx, tx, args.ExecutionID, args.StepPath, args.Attempt)
			if err != nil {
				return err
			}
			_, err = moveAttempt(ctx, tx, a.ID, attRunning, attParked)
			return err
		}
		return nil // a failed execution applies a stored output when retried
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
	if err := s.applyResult(ctx, tx, wf, e, run, a, from, out); err != nil {
		return err
	}
	return s.settle(ctx, tx, wf, e)
}

func (s *Service) applyResult(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow, run *stepRun, a *attempt, from string, out *combine.WorkResult) error {
	ref := run.Ref
	def, _ := wf.FindStep(ref.StepID)
	if def == nil {
		return s.failExecution(ctx, tx, e, run, fmt.Sprintf("step %q is no longer in workflow %s", ref.StepID, wf.ID))
	}
	switch {
	case out.AwaitPerson:
		if ok, err := moveAttempt(ctx, tx, a.ID, from, attWaitingInput); err != nil || !ok {
			return err
		}
		return s.appendEvent(ctx, tx, e, combine.EventInputNeeded, map[string]any{
			"step_path": ref.Path, "document_type": def.Produces, "scope_id": ref.ScopeID, "attempt": a.Number,
		})
	case len(out.Problems) > 0:
		return s.refuse(ctx, tx, wf, e, run, a, from, "", out.Problems)
	case len(out.Questions) > 0:
		if probs := s.questionProblems(out.Questions); len(probs) > 0 {
			return s.refuse(ctx, tx, wf, e, run, a, from, "", probs)
		}
		return s.askQuestions(ctx, tx, e, run, a, from, out.Questions)
	case out.Document != nil:
		probs, err := s.qaProblems(ctx, wf, def.Produces, out.Document.Content)
		if err != nil {
			return err
		}
		if len(probs) > 0 {
			return s.refuse(ctx, tx, wf, e, run, a, from, "", probs)
		}
		return s.storeDocument(ctx, tx, wf, e, run, a, from, "worker:"+s.worker.Name(), out.Document)
	}
	return s.refuse(ctx, tx, wf, e, run, a, from, "", []string{"$: the worker returned neither a document nor questions"})
}

// refuse records that attempt a (in status from) failed QA with probs,
// sent by sender (a user, or "" for the worker), and moves on.
func (s *Service) refuse(ctx context.Context, tx *Tx, wf *combine.Workflow, e *execRow, run *stepRun, a *attempt, from, sender string, probs []string) error {
	if ok, err := moveAttempt(ctx, tx, a.ID, from, attQAFailed); err != nil || !ok {
		return err
	}
	if err := setAttempt(ctx, tx, a.ID, sender, probs); err != nil {
		return err
	}
	return s.qaFailed(ctx, tx, wf, e, run, probs)
}

// askQuestions records a clarification round and waits for answers.
func (s *Service) askQuestions(ctx context.Context, tx *Tx, e *execRow, run *stepRun, a *attempt, from string, qs []combine.Question) error {
	if ok, err := moveAttempt(ctx, tx, a.ID, from, attQuestions); err != nil || !ok {
		return err
	}
	run.Clarifications++
	if run.Clarifications > s.cfg.MaxClarifications {
		return s.failExecution(ctx, tx, e, run, fmt.Sprintf("the step asked more than %d rounds of clarification questions", s.cfg.MaxClarifications))
	}
	if err := saveStepRun(ctx, tx, run); err != nil {
		return err
	}
	qj, err := jsonText(qs)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO clarification_rounds (id, execution_id, step_path, attempt, questions, asked_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, newID("clr"), e.ID, run.Ref.Path, a.Number, qj, tx.now()); err != nil {
		return fmt.Errorf("insert clarification round: %w", err)
	}
	return s.appendEvent(ctx, tx, e, combine.EventClarificationNeeded, map[string]any{
		"step_path": run.Ref.Path, "attempt": a.Number, "questions": qs,
	})
}

// failStep fails the work item of args and its execution, unless the
// attempt was already settled.
func (s *Service) failStep(ctx context.Context, args workArgs, reason string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		e, err := s.lockExecution(ctx, tx, args.ExecutionID)
		if err != nil || e.Status.Terminal() {
			return err
		}
		run, err := findStepRun(ctx, tx, e.ID, args.StepPath)
		if err != nil {
			return err
		}
		if run.Status != runRunning || run.Attempts != args.Attempt {
			return nil
		}
		a, err := findAttempt(ctx, tx, e.ID, args.StepPath, args.Attempt)
		if err != nil || !slices.Contains([]string{attRunning, attProduced}, a.Status) {
			return err
		}
		if err := s.failExecution(ctx, tx, e, run, reason); err != nil {
			return err
		}
		return s.settle(ctx, tx, nil, e)
	})
}

// watch returns a context for a worker call that ends when the execution
// is cancelled: at once from this process, within CancelPoll from
// another. A failure of another work item does not stop the call: its
// result is kept for a retry.
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
			if err == nil && e.Status == combine.StatusCancelled {
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
	case len(res.Problems) > 0:
		return "malformed"
	case len(res.Questions) > 0:
		return "questions"
	}
	return "document"
}
