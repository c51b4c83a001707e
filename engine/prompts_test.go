package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/thecombine/combine"
)

// TestAttemptsRecordPrompts runs the built-in workflow's first steps with
// the real registry and checks that every attempt records the role and
// task prompt versions and hashes, and that the worker received exactly
// the texts those hashes pin.
func TestAttemptsRecordPrompts(t *testing.T) {
	t.Parallel()
	w := &funcWorker{fn: func(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
		b, err := os.ReadFile(filepath.Join("..", "workflow", "testdata", "documents", task.DocumentType+".json"))
		if err != nil {
			return nil, err
		}
		return &combine.WorkResult{Document: &combine.Submission{Content: b}}, nil
	}}
	h := newHarness(t, w)
	e, err := h.svc.StartExecution(admin, combine.StartExecution{WorkflowID: "software_product_development", ProjectID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	h.wait(e.ID, combine.StatusWaitingAcceptance)

	tasks := w.tasks()
	if len(tasks) < 2 {
		t.Fatalf("worker ran %d tasks, want at least 2", len(tasks))
	}
	sent := map[string]string{} // step id -> "role sha|task sha" the worker got
	for _, task := range tasks {
		for _, p := range []combine.ResolvedPrompt{task.Prompts.Role, task.Prompts.Task} {
			if p.Text == "" {
				t.Fatalf("step %s: %s prompt %q sent without text", task.Step.StepID, p.Kind, p.Name)
			}
			sum := sha256.Sum256([]byte(p.Text))
			if got := hex.EncodeToString(sum[:]); got != p.SHA256 {
				t.Fatalf("step %s: %s prompt text hashes to %s, manifest pins %s", task.Step.StepID, p.Kind, got, p.SHA256)
			}
		}
		sent[task.Step.StepID] = task.Prompts.Role.SHA256 + "|" + task.Prompts.Task.SHA256
	}

	runs, err := h.svc.ListSteps(context.Background(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range runs {
		for _, a := range run.Attempts {
			if len(a.Prompts) != 2 || a.Prompts[0].Kind != "role" || a.Prompts[1].Kind != "task" {
				t.Fatalf("step %s attempt %d records prompts %+v, want a role and a task prompt", run.StepID, a.Attempt, a.Prompts)
			}
			for _, p := range a.Prompts {
				if p.Name == "" || p.Version == "" || len(p.SHA256) != 64 {
					t.Fatalf("step %s attempt %d: incomplete prompt record %+v", run.StepID, a.Attempt, p)
				}
			}
			if got := a.Prompts[0].SHA256 + "|" + a.Prompts[1].SHA256; got != sent[run.StepID] {
				t.Fatalf("step %s: recorded %s, worker got %s", run.StepID, got, sent[run.StepID])
			}
		}
	}
}
