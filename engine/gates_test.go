package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/thecombine/combine"
)

// twoQuestions is a clarification set written as the task prompts ask:
// the clarification schema's field names (why_it_matters).
var twoQuestions = []combine.Question{
	{ID: "users", Text: "Who are the users?", WhyItMatters: "scopes the product", Priority: "must", Blocking: true},
	{ID: "budget", Text: "Is there a budget?", WhyItMatters: "bounds the plan", Priority: "could"},
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
	e := h.start("")
	_, it := h.item(e.ID, "discovery", combine.WorkClarification)
	if len(it.Questions) != 2 || it.Questions[0].WhyItMatters != "scopes the product" || it.DocumentType != "discovery" {
		t.Fatalf("clarification item = %+v", it)
	}
	answer := func(attempt int, answers map[string]string) error {
		_, err := h.svc.AnswerClarification(op, e.ID, combine.Answers{StepPath: "discovery", Attempt: attempt, Answers: answers})
		return err
	}
	for _, tc := range []struct {
		name    string
		answers map[string]string
	}{
		{"unknown id", map[string]string{"users": "devs", "nope": "x"}},
		{"blocking question unanswered", map[string]string{"budget": "none"}},
		{"blank blocking answer", map[string]string{"users": "   "}},
		{"too long", map[string]string{"users": strings.Repeat("é", 10001)}},
	} {
		if err := answer(1, tc.answers); combine.ErrorCode(err) != combine.EINVALID {
			t.Fatalf("%s: error = %v, want invalid_request", tc.name, err)
		}
	}
	// An answer of exactly 10,000 characters (20,000 bytes) is fine.
	long := strings.Repeat("é", 10000)
	_, err := h.svc.SubmitDocument(op, e.ID, combine.Submission{StepPath: "discovery", Attempt: 1, Content: json.RawMessage(doc("wrong gate"))})
	wantCode(t, err, combine.ECONFLICT)
	wantCode(t, answer(2, map[string]string{"users": "developers"}), combine.ECONFLICT)
	if err := answer(1, map[string]string{"users": "developers", "budget": long}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, answer(1, map[string]string{"users": "again"}), combine.ECONFLICT)
	h.item(e.ID, "backlog", combine.WorkAcceptance)
	calls := w.tasks()
	if len(calls) != 3 || calls[1].Step.StepID != "discovery" || calls[1].Answers["users"] != "developers" ||
		calls[1].Step.Attempt != 2 || len(calls[1].Questions) != 2 || calls[1].Answers["budget"] != long {
		t.Fatalf("second discovery task = %+v", calls[1])
	}
	// The backlog task reads the accepted discovery document of this execution.
	if in := calls[2].Inputs; len(in) != 1 || in[0].DocumentType != "discovery" || in[0].Version != 1 {
		t.Fatalf("backlog inputs = %+v", in)
	}
}

// TestClarificationSetsAreCheckedByTheRegistry: a set that breaks the
// clarification schema (here the old "why" field name: why_it_matters is
// empty) is a QA failure of the attempt, not a question round.
func TestClarificationSetsAreCheckedByTheRegistry(t *testing.T) {
	t.Parallel()
	w := &funcWorker{fn: func(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
		if task.Step.Attempt == 1 {
			return &combine.WorkResult{Questions: []combine.Question{{ID: "users", Text: "Who?", Priority: "must", Blocking: true}}}, nil
		}
		return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(doc("D", "epics", `[{"id": "E1"}]`))}}, nil
	}}
	h := newHarness(t, w)
	e := h.start("")
	h.item(e.ID, "backlog", combine.WorkAcceptance)
	calls := w.tasks()
	if len(calls[1].Problems) == 0 || !strings.Contains(strings.Join(calls[1].Problems, " "), "why_it_matters") {
		t.Fatalf("remediation problems = %v, want the missing why_it_matters named", calls[1].Problems)
	}
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
	if len(calls[0].Problems) != 0 || len(calls[1].Problems) != 1 || !strings.Contains(calls[2].Problems[0], "title") {
		t.Fatalf("remediation feedback = %v / %v / %v", calls[0].Problems, calls[1].Problems, calls[2].Problems)
	}
	if n := h.count(`SELECT COUNT(*) FROM step_attempts WHERE execution_id = $1 AND status = 'qa_failed'`, e.ID); n != 3 {
		t.Fatalf("recorded %d failed attempts, want 3", n)
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
	e := h.start("")
	h.item(e.ID, "discovery", combine.WorkInput)
	_, err := h.svc.SubmitDocument(op, e.ID, combine.Submission{StepPath: "discovery", Attempt: 1, Content: json.RawMessage(`{}`)})
	ce := wantCode(t, err, combine.EINVALID)
	if p := ce.Details["pending"].([]*combine.WorkItem); len(p) != 1 || p[0].Attempt != 2 || p[0].AttemptsLeft != 1 {
		t.Fatalf("a refused submission answers with the next attempt: %+v", ce.Details)
	}
	_, err = h.svc.SubmitDocument(op, e.ID, combine.Submission{StepPath: "discovery", Attempt: 2, Content: json.RawMessage(`{"title": ""}`)})
	ce = wantCode(t, err, combine.EINVALID)
	if !strings.Contains(ce.Message, "no attempts left") {
		t.Fatalf("message = %q", ce.Message)
	}
	e = h.wait(e.ID, combine.StatusFailed)
	if e.Error == "" || e.FailedStepPath != "discovery" {
		t.Fatalf("failed execution = %+v", e)
	}
}

// TestRedoKeepsClarificationAnswers checks that a step redone after a QA
// failure or a rejection still carries the questions and answers of its
// clarification round, so a worker never has to ask them again.
func TestRedoKeepsClarificationAnswers(t *testing.T) {
	t.Parallel()
	var invalidSent atomic.Bool
	w := &funcWorker{fn: func(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
		content := `{"title": "by worker", "epics": [{"id": "E1"}], "stories": [{"id": "S1"}]}`
		if task.Step.StepID == "backlog" {
			switch {
			case task.Answers["users"] == "":
				return &combine.WorkResult{Questions: twoQuestions}, nil
			case !invalidSent.Swap(true):
				content = `{"epics": []}` // no title: fails QA
			}
		}
		return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(content)}}, nil
	}}
	h := newHarness(t, w)
	e := h.start("")
	_, it := h.item(e.ID, "backlog", combine.WorkClarification)
	if _, err := h.svc.AnswerClarification(pm, e.ID, combine.Answers{StepPath: "backlog", Attempt: it.Attempt,
		Answers: map[string]string{"users": "developers"}}); err != nil {
		t.Fatal(err)
	}
	h.decide(pm, e.ID, "backlog", false, "split E1")
	h.item(e.ID, "backlog", combine.WorkAcceptance)

	var backlog []*combine.Task
	for _, task := range w.tasks() {
		if task.Step.StepID == "backlog" {
			backlog = append(backlog, task)
		}
	}
	// 1 asks, 2 answered (fails QA), 3 remediation, 4 redo after rejection.
	if len(backlog) != 4 {
		t.Fatalf("backlog ran %d times, want 4", len(backlog))
	}
	for i, task := range backlog[1:] {
		if task.Answers["users"] != "developers" || len(task.Questions) != 2 {
			t.Fatalf("backlog attempt %d lost the clarification: questions %v, answers %v", i+2, task.Questions, task.Answers)
		}
	}
	if len(backlog[2].Problems) == 0 {
		t.Fatalf("remediation attempt has no QA problems")
	}
	if backlog[3].ReviewerComment != "split E1" {
		t.Fatalf("redo attempt has reviewer comment %q", backlog[3].ReviewerComment)
	}
}

// TestAncestorEntityInputIsDelivered: the notes step reads the story
// (its context item) and the epic (an ancestor scope's item); the worker
// gets both, with the document versions they came from.
func TestAncestorEntityInputIsDelivered(t *testing.T) {
	t.Parallel()
	w := &funcWorker{fn: func(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
		content := `{"title": "t", "epics": [{"epic_id": "E1", "name": "Sign-in"}], "stories": [{"id": "S1", "name": "Use a link"}]}`
		return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(content)}}, nil
	}}
	h := newHarness(t, w)
	e := h.start("")
	h.decide(pm, e.ID, "backlog", true, "")
	h.decide(ba, e.ID, "per_epic[E1]/stories", true, "")
	h.wait(e.ID, combine.StatusCompleted)
	var notes *combine.Task
	for _, task := range w.tasks() {
		if task.Step.StepID == "notes" {
			notes = task
		}
	}
	got := map[string]combine.TaskInput{}
	for _, in := range notes.Inputs {
		got[in.EntityType+"/"+in.DocumentType] = in
	}
	epic, story := got["epic/epic_backlog"], got["story/story_backlog"]
	if epic.ItemID != "E1" || !strings.Contains(string(epic.Content), "Sign-in") || epic.Version != 1 || epic.ScopeID != e.ProjectID {
		t.Fatalf("epic input = %+v", epic)
	}
	if story.ItemID != "S1" || !strings.Contains(string(story.Content), "Use a link") || story.ScopeID != "epic:E1" {
		t.Fatalf("story input = %+v", story)
	}
	if _, ok := got["/story_backlog"]; !ok || len(notes.Inputs) != 3 {
		t.Fatalf("notes inputs = %+v", notes.Inputs)
	}
	if !strings.Contains(string(notes.ContextItem), "Use a link") {
		t.Fatalf("context item = %s", notes.ContextItem)
	}
}
