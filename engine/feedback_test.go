package engine_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/thecombine/combine"
)

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
	pm := as("usr_pm", "operator", "pm")
	e := h.waitStep(h.start("").ID, combine.StatusWaitingClarification, "backlog")
	if _, err := h.svc.AnswerClarification(pm, e.ID, map[string]string{"users": "developers"}); err != nil {
		t.Fatal(err)
	}
	e = h.waitStep(e.ID, combine.StatusWaitingAcceptance, "backlog")
	if _, err := h.svc.DecideAcceptance(pm, e.ID, combine.Decision{Comment: "split E1"}); err != nil {
		t.Fatal(err)
	}
	h.waitStep(e.ID, combine.StatusWaitingAcceptance, "backlog")

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
