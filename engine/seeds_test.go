package engine_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/thecombine/combine"
)

// TestSeededDocuments: inputs.documents seeds the first version of
// root-scope document types. A seeded type's step takes the seed as its
// document: discovery (no acceptance) completes at once; a seeded
// backlog still waits for the pm's decision.
func TestSeededDocuments(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	start := func(inputs string) (*combine.Execution, error) {
		return h.svc.StartExecution(op, combine.StartExecution{WorkflowID: "tiny", ProjectID: "seeded", Inputs: json.RawMessage(inputs)})
	}
	for _, bad := range []string{
		`{"documents": []}`,
		`{"documents": {"nope": {"content": {"title": "x"}}}}`,
		`{"documents": {"notes": {"content": {"title": "x"}}}}`,
		`{"documents": {"discovery": {"content": {"no": "title"}}}}`,
		`{"documents": {"discovery": {"content": {"title": "x"}, "extra": 1}}}`,
		`{"documents": {"discovery": {"content": []}}}`,
	} {
		if _, err := start(bad); combine.ErrorCode(err) != combine.EINVALID {
			t.Fatalf("inputs %s: error %v, want invalid_request", bad, err)
		}
	}
	if n := h.count(`SELECT COUNT(*) FROM executions`); n != 0 {
		t.Fatalf("refused starts created %d executions", n)
	}
	e, err := start(`{"brief": "a todo app", "documents": {
		"discovery": {"title": "Our discovery", "content": {"title": "Discovery", "goal": "todos"}},
		"epic_backlog": {"content": {"title": "Seeded backlog", "epics": [{"id": "E1"}]}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	_, it := h.item(e.ID, "backlog", combine.WorkAcceptance)
	h.decide(pm, e.ID, "backlog", true, "")
	h.submit(op, e.ID, "per_epic[E1]/stories", doc("S", "stories", `[{"id": "S1"}]`))
	h.decide(ba, e.ID, "per_epic[E1]/stories", true, "")
	h.submit(op, e.ID, "per_epic[E1]/per_story[S1]/notes", doc("N"))
	h.wait(e.ID, combine.StatusCompleted)
	d, err := h.svc.FindDocument(context.Background(), it.Document.DocumentID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Title != "Seeded backlog" || d.CreatedBy != "user:usr_op" || d.Acceptance.Status != combine.AcceptanceAccepted {
		t.Fatalf("seeded backlog = %+v", d)
	}
	docs, _, _ := h.svc.ListDocuments(context.Background(), combine.DocumentFilter{ExecutionID: e.ID, DocumentType: "discovery"})
	if len(docs) != 1 || docs[0].Title != "Our discovery" {
		t.Fatalf("discovery = %+v", docs)
	}
	steps, _ := h.svc.ListSteps(context.Background(), e.ID)
	if steps[0].StepID != "discovery" || steps[0].Status != "completed" || len(steps[0].Attempts) != 1 {
		t.Fatalf("discovery step = %+v", steps[0])
	}
}
