package engine_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thecombine/combine"
)

// TestRetryAfterQAExhaustion: a worker's documents fail QA until the
// budget is gone and the execution fails; a retry re-opens the failed
// item as a new attempt with a fresh budget and the problems to fix, and
// the execution completes. Everything accepted before stays.
func TestRetryAfterQAExhaustion(t *testing.T) {
	t.Parallel()
	var fixed atomic.Bool
	w := &funcWorker{fn: func(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
		content := `{"title": "ok", "epics": [{"id": "E1"}], "stories": [{"id": "S1"}]}`
		if task.Step.StepID == "stories" && !fixed.Load() {
			content = `{"title": "no stories"}`
		}
		return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(content)}}, nil
	}}
	h := newHarness(t, w)
	e := h.start("retry-qa")
	h.decide(pm, e.ID, "backlog", true, "")
	e = h.wait(e.ID, combine.StatusFailed)
	if e.FailedStepPath != "per_epic[E1]/stories" || e.Error == "" || len(e.Pending) != 0 {
		t.Fatalf("failed execution = %+v", e)
	}
	_, err := h.svc.SubmitDocument(op, e.ID, combine.Submission{StepPath: "per_epic[E1]/stories", Attempt: 3, Content: json.RawMessage(doc("x"))})
	wantCode(t, err, combine.ECONFLICT)

	fixed.Store(true)
	r, err := h.svc.RetryExecution(op, e.ID, "the schema needs stories")
	if err != nil {
		t.Fatal(err)
	}
	if r.Retries != 1 || r.Status.Terminal() || r.Error != "" || r.FailedStepPath != "" {
		t.Fatalf("retried execution = %+v", r)
	}
	_, err = h.svc.RetryExecution(op, e.ID, "")
	wantCode(t, err, combine.ECONFLICT) // not failed any more
	h.decide(ba, e.ID, "per_epic[E1]/stories", true, "")
	e = h.wait(e.ID, combine.StatusCompleted)

	var stories []*combine.Task
	for _, task := range w.tasks() {
		if task.Step.StepID == "stories" {
			stories = append(stories, task)
		}
	}
	if len(stories) != 4 {
		t.Fatalf("the stories step ran %d times, want 3 failing and 1 retry", len(stories))
	}
	last := stories[3]
	if last.Step.Attempt != 4 || len(last.Problems) == 0 || last.RetryComment != "the schema needs stories" {
		t.Fatalf("the retry attempt got %+v", last)
	}
	runs, err := h.svc.ListSteps(context.Background(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range runs {
		if run.Status != "completed" {
			t.Fatalf("step %s is %s", run.Path, run.Status)
		}
		if run.StepID == "backlog" && len(run.Attempts) != 1 {
			t.Fatalf("the accepted backlog ran again: %d attempts", len(run.Attempts))
		}
	}
	evs := h.events(e.ID)
	retried := 0
	for _, ev := range evs {
		if ev == combine.EventExecutionRetried {
			retried++
		}
	}
	if retried != 1 {
		t.Fatalf("events = %v, want one execution_retried", evs)
	}
}

// TestRetryAfterRejectionExhaustion: a person's document rejected more
// times than allowed fails the execution; a retry opens a new attempt
// with the last comment and a fresh rejection budget.
func TestRetryAfterRejectionExhaustion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *engineConfig) { c.MaxRejections = 1 })
	e := h.start("retry-reject")
	h.submit(op, e.ID, "discovery", doc("D"))
	h.submit(op, e.ID, "backlog", doc("B1", "epics", `[{"id": "E1"}]`))
	h.decide(pm, e.ID, "backlog", false, "not yet")
	h.submit(op, e.ID, "backlog", doc("B2", "epics", `[{"id": "E1"}]`))
	h.decide(pm, e.ID, "backlog", false, "still not")
	e = h.wait(e.ID, combine.StatusFailed)
	if e.FailedStepPath != "backlog" {
		t.Fatalf("failed at %q", e.FailedStepPath)
	}
	if _, err := h.svc.RetryExecution(pm, e.ID, "one more try"); err != nil {
		t.Fatal(err)
	}
	_, it := h.item(e.ID, "backlog", combine.WorkInput)
	if it.Attempt != 3 || it.ReviewerComment != "still not" || it.RejectionsLeft != 1 || it.AttemptsLeft != 3 {
		t.Fatalf("retried item = %+v", it)
	}
	h.submit(op, e.ID, "backlog", doc("B3", "epics", `[{"id": "E1"}]`))
	h.decide(pm, e.ID, "backlog", true, "")
	h.submit(op, e.ID, "per_epic[E1]/stories", doc("S", "stories", `[{"id": "S1"}]`))
	h.decide(ba, e.ID, "per_epic[E1]/stories", true, "")
	h.submit(op, e.ID, "per_epic[E1]/per_story[S1]/notes", doc("N"))
	h.wait(e.ID, combine.StatusCompleted)
}

// TestRetryContinuesItemsOpenAtTheFailure: one story item fails while
// another is in a worker's hands. The call in flight is not cancelled; its
// result waits; the retry applies it and re-opens the failed item.
func TestRetryContinuesItemsOpenAtTheFailure(t *testing.T) {
	t.Parallel()
	var s2Calls atomic.Int32
	slow := make(chan struct{})
	// S1 fails only once S2's call has begun: a job picked up after the
	// failure is parked instead (a different case), which a loaded machine
	// made happen when S1 did not wait.
	s2Began := make(chan struct{})
	var s2Once sync.Once
	w := &funcWorker{fn: func(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
		content := `{"title": "ok", "epics": [{"id": "E1"}], "stories": [{"id": "S1"}, {"id": "S2"}]}`
		switch task.Step.Path {
		case "per_epic[E1]/per_story[S1]/notes":
			if task.RetryComment == "" {
				select {
				case <-s2Began:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				content = `{"no": "title"}`
			}
		case "per_epic[E1]/per_story[S2]/notes":
			s2Calls.Add(1)
			s2Once.Do(func() { close(s2Began) })
			select {
			case <-slow:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(content)}}, nil
	}}
	h := newHarness(t, w, func(c *engineConfig) { c.MaxQAAttempts = 1 })
	e := h.start("retry-open")
	h.decide(pm, e.ID, "backlog", true, "")
	h.decide(ba, e.ID, "per_epic[E1]/stories", true, "")
	e = h.wait(e.ID, combine.StatusFailed)
	if e.FailedStepPath != "per_epic[E1]/per_story[S1]/notes" {
		t.Fatalf("failed at %q", e.FailedStepPath)
	}
	close(slow) // S2's call completes while the execution is failed
	deadline := time.Now().Add(waitLimit)
	for h.count(`SELECT COUNT(*) FROM step_attempts WHERE execution_id = $1 AND step_path = 'per_epic[E1]/per_story[S2]/notes' AND status = 'produced'`, e.ID) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("S2's result was not kept while the execution was failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := h.svc.RetryExecution(op, e.ID, "fixed"); err != nil {
		t.Fatal(err)
	}
	h.wait(e.ID, combine.StatusCompleted)
	if n := s2Calls.Load(); n != 1 {
		t.Fatalf("S2's worker was called %d times, want once (its result is never paid for twice)", n)
	}
}
