package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
)

var twoQuestions = []combine.Question{
	{ID: "users", Text: "Who are the users?", Why: "scopes the product", Priority: "must", Blocking: true},
	{ID: "budget", Text: "Is there a budget?", Why: "bounds the plan", Priority: "could"},
}

// scripted answers discovery with questions until answered, and writes
// a valid document for every other step.
func scripted() *funcWorker {
	return &funcWorker{fn: func(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
		if t.Step.StepID == "discovery" && t.Answers["users"] == "" {
			return &combine.WorkResult{Questions: twoQuestions}, nil
		}
		content := fmt.Sprintf(`{"title": "%s by worker", "epics": [{"id": "E1"}], "stories": [{"id": "S1"}]}`, t.Step.StepID)
		return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(content)}}, nil
	}}
}

func TestClarificationRoundResumesTheStep(t *testing.T) {
	t.Parallel()
	w := scripted()
	h := newHarness(t, w)
	op := as("usr_op", "operator")
	e := h.start("")
	e = h.waitStep(e.ID, combine.StatusWaitingClarification, "discovery")
	if len(e.Pending.Questions) != 2 || e.Pending.DocumentType != "discovery" {
		t.Fatalf("pending = %+v", e.Pending)
	}
	for _, tc := range []struct {
		name    string
		answers map[string]string
	}{
		{"unknown id", map[string]string{"users": "devs", "nope": "x"}},
		{"blocking question unanswered", map[string]string{"budget": "none"}},
		{"blank blocking answer", map[string]string{"users": "   "}},
	} {
		_, err := h.svc.AnswerClarification(op, e.ID, tc.answers)
		if combine.ErrorCode(err) != combine.EINVALID {
			t.Fatalf("%s: error = %v, want invalid_request", tc.name, err)
		}
	}
	_, err := h.svc.SubmitDocument(op, e.ID, doc("wrong gate"))
	wantCode(t, err, combine.ECONFLICT)
	if _, err := h.svc.AnswerClarification(op, e.ID, map[string]string{"users": "developers"}); err != nil {
		t.Fatal(err)
	}
	e = h.waitStep(e.ID, combine.StatusWaitingAcceptance, "backlog")
	calls := w.tasks()
	if len(calls) != 3 || calls[1].Step.StepID != "discovery" || calls[1].Answers["users"] != "developers" ||
		calls[1].Step.Attempt != 2 || len(calls[1].Questions) != 2 {
		t.Fatalf("second discovery task = %+v", calls[1])
	}
	// The backlog task reads the latest accepted discovery document.
	if in := calls[2].Inputs; len(in) != 1 || in[0].DocumentType != "discovery" || in[0].Version != 1 {
		t.Fatalf("backlog inputs = %+v", in)
	}
	_, err = h.svc.AnswerClarification(op, e.ID, map[string]string{"users": "again"})
	wantCode(t, err, combine.ECONFLICT)
}

func TestQAFailuresAreRemediatedThenExhausted(t *testing.T) {
	t.Parallel()
	w := &funcWorker{fn: func(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
		return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(`{"no_title": true}`)}}, nil
	}}
	h := newHarness(t, w)
	e := h.wait(h.start("").ID, combine.StatusFailed)
	calls := w.tasks()
	if len(calls) != 3 {
		t.Fatalf("worker called %d times, want 3 attempts", len(calls))
	}
	if len(calls[0].Problems) != 0 || len(calls[1].Problems) != 1 || calls[2].Problems[0] != "$.title: title is required" {
		t.Fatalf("remediation feedback = %v / %v / %v", calls[0].Problems, calls[1].Problems, calls[2].Problems)
	}
	var failed int
	if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM step_attempts WHERE execution_id = $1 AND status = 'qa_failed'`, e.ID).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed != 3 {
		t.Fatalf("recorded %d failed attempts, want 3", failed)
	}
	evs := h.events(e.ID)
	if got := evs[len(evs)-2:]; got[0] != combine.EventStepFailed || got[1] != combine.EventExecutionFailed {
		t.Fatalf("last events = %v", got)
	}
	docs, _, _ := h.svc.ListDocuments(context.Background(), combine.DocumentFilter{ExecutionID: e.ID})
	if len(docs) != 0 {
		t.Fatalf("a document failing QA was stored: %+v", docs[0])
	}
}

func TestPersonSubmissionsFailingQAExhaustTheStep(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *engineConfig) { c.MaxQAAttempts = 2 })
	op := as("usr_op", "operator")
	e := h.waitStep(h.start("").ID, combine.StatusWaitingInput, "discovery")
	_, err := h.svc.SubmitDocument(op, e.ID, combine.Submission{Content: json.RawMessage(`[1]`)})
	wantCode(t, err, combine.EINVALID)
	e = h.waitStep(e.ID, combine.StatusWaitingInput, "discovery")
	if e.Pending.AttemptsLeft != 1 {
		t.Fatalf("attempts left = %d, want 1", e.Pending.AttemptsLeft)
	}
	_, err = h.svc.SubmitDocument(op, e.ID, combine.Submission{Content: json.RawMessage(`{}`)})
	wantCode(t, err, combine.EINVALID)
	e = h.wait(e.ID, combine.StatusFailed)
	if e.Error == "" {
		t.Fatal("failed execution has no error")
	}
}

func TestInvalidQuestionSetCountsAsQAFailure(t *testing.T) {
	t.Parallel()
	w := &funcWorker{fn: func(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
		qs := make([]combine.Question, 6)
		for i := range qs {
			qs[i] = combine.Question{ID: fmt.Sprint("q", i), Text: "Why?", Why: "w", Priority: "must"}
		}
		return &combine.WorkResult{Questions: qs}, nil
	}}
	h := newHarness(t, w)
	e := h.wait(h.start("").ID, combine.StatusFailed)
	if len(w.tasks()) != 3 || len(w.tasks()[1].Problems) == 0 {
		t.Fatalf("tasks = %d, problems = %v", len(w.tasks()), w.tasks()[1].Problems)
	}
	_ = e
}

func TestCancelFromEveryNonTerminalState(t *testing.T) {
	t.Parallel()
	inflight := make(chan struct{}, 1)
	blocking := &funcWorker{fn: func(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
		inflight <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	cases := []struct {
		name   string
		worker combine.Worker
		reach  func(h *harness, id string)
	}{
		{"waiting_input", nil, func(h *harness, id string) { h.waitStep(id, combine.StatusWaitingInput, "discovery") }},
		{"waiting_clarification", scripted(), func(h *harness, id string) {
			h.waitStep(id, combine.StatusWaitingClarification, "discovery")
		}},
		{"waiting_acceptance", nil, func(h *harness, id string) {
			h.waitStep(id, combine.StatusWaitingInput, "discovery")
			if _, err := h.svc.SubmitDocument(admin, id, doc("d")); err != nil {
				h.t.Fatal(err)
			}
			h.waitStep(id, combine.StatusWaitingInput, "backlog")
			if _, err := h.svc.SubmitDocument(admin, id, doc("b", "epics", `[]`)); err != nil {
				h.t.Fatal(err)
			}
			h.waitStep(id, combine.StatusWaitingAcceptance, "backlog")
		}},
		{"running with a worker call in flight", blocking, func(h *harness, id string) {
			select {
			case <-inflight:
			case <-time.After(10 * time.Second):
				h.t.Fatal("worker never called")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.worker)
			id := h.start("").ID
			tc.reach(h, id)
			_, err := h.svc.CancelExecution(as("usr_op", "operator"), id)
			if err != nil {
				t.Fatal(err)
			}
			e := h.wait(id, combine.StatusCancelled)
			if e.Pending != nil || e.FinishedAt == nil {
				t.Fatalf("cancelled execution = %+v", e)
			}
			_, err = h.svc.CancelExecution(admin, id)
			wantCode(t, err, combine.ECONFLICT)
			_, err = h.svc.SubmitDocument(admin, id, doc("late"))
			wantCode(t, err, combine.ECONFLICT)
			_, err = h.svc.DecideAcceptance(admin, id, combine.Decision{Accepted: true})
			wantCode(t, err, combine.ECONFLICT)
			evs := h.events(id)
			if evs[len(evs)-1] != combine.EventExecutionCancelled {
				t.Fatalf("events = %v", evs)
			}
		})
	}
	// Pending (never picked up): cancel before the runner starts.
	h := newHarness(t, nil)
	if err := h.svc.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := h.start("").ID
	if _, err := h.svc.CancelExecution(admin, id); err != nil {
		t.Fatal(err)
	}
	if e, _ := h.svc.FindExecution(context.Background(), id); e.Status != combine.StatusCancelled {
		t.Fatalf("status = %s", e.Status)
	}
}

// TestRedeliveredStepJobsApplyNothing delivers every finished attempt's
// job again, as River does after a crash: nothing changes.
func TestRedeliveredStepJobsApplyNothing(t *testing.T) {
	t.Parallel()
	w := scripted()
	h := newHarness(t, w)
	ctx := context.Background()
	e := h.start("")
	e = h.waitStep(e.ID, combine.StatusWaitingClarification, "discovery")
	if _, err := h.svc.AnswerClarification(admin, e.ID, map[string]string{"users": "devs"}); err != nil {
		t.Fatal(err)
	}
	e = h.waitStep(e.ID, combine.StatusWaitingAcceptance, "backlog")
	before := h.events(e.ID)
	calls := len(w.tasks())
	for _, d := range []struct {
		path    string
		attempt int
	}{{"discovery", 1}, {"discovery", 2}, {"backlog", 1}} {
		if err := h.svc.RunStep(ctx, e.ID, d.path, d.attempt); err != nil {
			t.Fatal(err)
		}
	}
	if after := h.events(e.ID); len(after) != len(before) {
		t.Fatalf("re-delivery appended events: %v", after[len(before):])
	}
	if len(w.tasks()) != calls {
		t.Fatal("re-delivery called the worker again")
	}
	docs, _, _ := h.svc.ListDocuments(ctx, combine.DocumentFilter{ExecutionID: e.ID})
	if len(docs) != 2 {
		t.Fatalf("documents = %d, want 2", len(docs))
	}
}

func TestWorkerErrorsAreRetriedThenFailTheStep(t *testing.T) {
	t.Parallel()
	w := &funcWorker{fn: func(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
		return nil, fmt.Errorf("provider unavailable")
	}}
	h := newHarness(t, w, func(c *engineConfig) { c.RetryDelay = 10 * time.Millisecond })
	e := h.wait(h.start("").ID, combine.StatusFailed)
	calls := w.tasks()
	if len(calls) != 3 {
		t.Fatalf("worker called %d times, want 3", len(calls))
	}
	for _, c := range calls {
		if c.IdempotencyKey != calls[0].IdempotencyKey || c.Step.Attempt != 1 {
			t.Fatalf("a retry is the same attempt: %s #%d vs %s", c.IdempotencyKey, c.Step.Attempt, calls[0].IdempotencyKey)
		}
	}
	if !strings.Contains(e.Error, "provider unavailable") {
		t.Fatalf("error = %q", e.Error)
	}
}

// TestIterationTasksCarryTheirContext checks what a nested step reads:
// the latest accepted input of its own epic and the story it is on.
func TestIterationTasksCarryTheirContext(t *testing.T) {
	t.Parallel()
	w := &funcWorker{fn: func(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
		content := fmt.Sprintf(`{"title": %q, "epics": [{"id": "E1", "name": "one"}, {"id": "E2", "name": "two"}],
			"stories": [{"id": "S1", "name": "first"}, {"id": "S2", "name": "second"}]}`, t.Step.Path)
		return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(content)}}, nil
	}}
	h := newHarness(t, w)
	id := h.start("").ID
	for {
		e := h.wait(id, combine.StatusWaitingAcceptance, combine.StatusCompleted)
		if e.Status == combine.StatusCompleted {
			break
		}
		if _, err := h.svc.DecideAcceptance(admin, id, combine.Decision{Accepted: true}); err != nil {
			t.Fatal(err)
		}
	}
	var notes *combine.Task
	for _, task := range w.tasks() {
		if task.Step.Path == "per_epic[E2]/per_story[S1]/notes" {
			notes = task
		}
	}
	if notes == nil {
		t.Fatal("the notes step of E2/S1 never ran")
	}
	var item struct{ ID, Name string }
	if err := json.Unmarshal(notes.ContextItem, &item); err != nil || item.ID != "S1" || item.Name != "first" {
		t.Fatalf("context item = %s", notes.ContextItem)
	}
	if len(notes.Inputs) != 1 || notes.Inputs[0].DocumentType != "story_backlog" || notes.Inputs[0].ScopeID != "epic:E2" {
		t.Fatalf("inputs = %+v", notes.Inputs)
	}
	if got := notes.Step.Items; len(got) != 2 || got[0].ScopeID != "epic:E2" || got[1].ScopeID != "epic:E2/story:S1" {
		t.Fatalf("items = %+v", got)
	}
}

func TestRejectionsAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *engineConfig) { c.MaxRejections = 2 })
	pm := as("usr_pm", "operator", "pm")
	e := h.waitStep(h.start("").ID, combine.StatusWaitingInput, "discovery")
	if _, err := h.svc.SubmitDocument(pm, e.ID, doc("d")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e = h.waitStep(e.ID, combine.StatusWaitingInput, "backlog")
		if _, err := h.svc.SubmitDocument(pm, e.ID, doc(fmt.Sprint("b", i), "epics", `[]`)); err != nil {
			t.Fatal(err)
		}
		e = h.waitStep(e.ID, combine.StatusWaitingAcceptance, "backlog")
		if e.Pending.DocumentVersion != i+1 {
			t.Fatalf("version = %d, want %d", e.Pending.DocumentVersion, i+1)
		}
		if _, err := h.svc.DecideAcceptance(pm, e.ID, combine.Decision{Comment: "not yet"}); err != nil {
			t.Fatal(err)
		}
	}
	e = h.wait(e.ID, combine.StatusFailed)
	if !strings.Contains(e.Error, "rejected 3 times") {
		t.Fatalf("error = %q", e.Error)
	}
	var decisions int
	if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM acceptance_decisions WHERE execution_id = $1 AND NOT accepted AND decided_by = 'usr_pm'`, e.ID).Scan(&decisions); err != nil {
		t.Fatal(err)
	}
	if decisions != 3 {
		t.Fatalf("recorded %d rejections, want 3", decisions)
	}
}
