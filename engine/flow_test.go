package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/thecombine/combine"
)

// TestPeopleRunTheWholeWorkflow walks the tiny workflow done by people:
// a QA failure and remediation, a rejection and redo, acceptance role
// checks, iteration over 2 epics × 2 stories with distinct scope ids.
func TestPeopleRunTheWholeWorkflow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	op := as("usr_op", "operator")
	pm := as("usr_pm", "operator", "pm")
	ba := as("usr_ba", "operator", "ba")
	e := h.start("acme")

	e = h.waitStep(e.ID, combine.StatusWaitingInput, "discovery")
	if e.Pending.DocumentType != "discovery" || e.Pending.ScopeID != "acme" || len(e.Pending.Schema) == 0 {
		t.Fatalf("pending = %+v", e.Pending)
	}
	// QA failure: refused with the problems, recorded, then remediation.
	_, err := h.svc.SubmitDocument(op, e.ID, combine.Submission{Content: []byte(`{"summary": "no title"}`)})
	wantCode(t, err, combine.EINVALID)
	if probs := err.(*combine.Error).Details["problems"].([]string); len(probs) != 1 || probs[0] != "$.title: title is required" {
		t.Fatalf("problems = %v", probs)
	}
	e = h.waitStep(e.ID, combine.StatusWaitingInput, "discovery")
	if e.Pending.Attempt != 2 || len(e.Pending.Problems) != 1 || e.Pending.AttemptsLeft != 2 {
		t.Fatalf("after a QA failure pending = %+v", e.Pending)
	}
	if _, err := h.svc.SubmitDocument(op, e.ID, doc("Discovery")); err != nil {
		t.Fatal(err)
	}

	e = h.waitStep(e.ID, combine.StatusWaitingInput, "backlog")
	if _, err := h.svc.SubmitDocument(op, e.ID, doc("Backlog v1", "epics", `[{"id": "E1"}]`)); err != nil {
		t.Fatal(err)
	}
	e = h.waitStep(e.ID, combine.StatusWaitingAcceptance, "backlog")
	if e.Pending.DocumentVersion != 1 || !slices.Equal(e.Pending.AcceptedBy, []string{"pm"}) {
		t.Fatalf("pending = %+v", e.Pending)
	}
	// Only pm (or admin) decides; a rejection needs a comment.
	_, err = h.svc.DecideAcceptance(ba, e.ID, combine.Decision{Accepted: true})
	wantCode(t, err, combine.EFORBIDDEN)
	_, err = h.svc.DecideAcceptance(pm, e.ID, combine.Decision{Accepted: false})
	wantCode(t, err, combine.EINVALID)
	if _, err := h.svc.DecideAcceptance(pm, e.ID, combine.Decision{Accepted: false, Comment: "we need two epics"}); err != nil {
		t.Fatal(err)
	}
	e = h.waitStep(e.ID, combine.StatusWaitingInput, "backlog")
	if e.Pending.ReviewerComment != "we need two epics" {
		t.Fatalf("redo pending = %+v", e.Pending)
	}
	if _, err := h.svc.SubmitDocument(op, e.ID, doc("Backlog v2", "epics", `[{"id": "E1"}, {"id": "E2"}]`)); err != nil {
		t.Fatal(err)
	}
	e = h.waitStep(e.ID, combine.StatusWaitingAcceptance, "backlog")
	if e.Pending.DocumentVersion != 2 {
		t.Fatalf("redo produced version %d, want 2", e.Pending.DocumentVersion)
	}
	if _, err := h.svc.DecideAcceptance(pm, e.ID, combine.Decision{Accepted: true, Comment: "good"}); err != nil {
		t.Fatal(err)
	}

	for _, epic := range []string{"E1", "E2"} {
		path := "per_epic[" + epic + "]/stories"
		e = h.waitStep(e.ID, combine.StatusWaitingInput, path)
		if e.Pending.ScopeType != "epic" || e.Pending.ScopeID != "epic:"+epic {
			t.Fatalf("pending scope = %s %s", e.Pending.ScopeType, e.Pending.ScopeID)
		}
		if _, err := h.svc.SubmitDocument(op, e.ID, doc("Stories of "+epic, "stories", `[{"id": "S1"}, {"id": "S2"}]`)); err != nil {
			t.Fatal(err)
		}
		e = h.waitStep(e.ID, combine.StatusWaitingAcceptance, path)
		if _, err := h.svc.DecideAcceptance(admin, e.ID, combine.Decision{Accepted: true}); err != nil {
			t.Fatal(err)
		}
		for _, story := range []string{"S1", "S2"} {
			path := "per_epic[" + epic + "]/per_story[" + story + "]/notes"
			e = h.waitStep(e.ID, combine.StatusWaitingInput, path)
			if want := "epic:" + epic + "/story:" + story; e.Pending.ScopeID != want {
				t.Fatalf("story scope id = %q, want %q", e.Pending.ScopeID, want)
			}
			if _, err := h.svc.SubmitDocument(op, e.ID, doc("Notes "+epic+story)); err != nil {
				t.Fatal(err)
			}
		}
	}
	e = h.wait(e.ID, combine.StatusCompleted)
	if e.Pending != nil || e.FinishedAt == nil {
		t.Fatalf("completed execution = %+v", e)
	}

	latest, total, err := h.svc.ListDocuments(ctx, combine.DocumentFilter{ExecutionID: e.ID, Latest: true})
	if err != nil {
		t.Fatal(err)
	}
	// discovery, backlog, 2 story backlogs, 4 notes.
	if total != 8 || len(latest) != 8 {
		t.Fatalf("latest documents = %d, want 8", total)
	}
	scopes := map[string]bool{}
	for _, d := range latest {
		scopes[d.DocumentType+" "+d.ScopeID] = true
		if d.DocumentType == "epic_backlog" && (d.Version != 2 || d.Acceptance.Status != combine.AcceptanceAccepted || d.Acceptance.DecidedBy != "usr_pm") {
			t.Fatalf("latest backlog = %+v", d)
		}
	}
	if !scopes["notes epic:E2/story:S1"] || !scopes["story_backlog epic:E1"] || len(scopes) != 8 {
		t.Fatalf("scopes = %v", scopes)
	}
	all, _, _ := h.svc.ListDocuments(ctx, combine.DocumentFilter{ExecutionID: e.ID, DocumentType: "epic_backlog"})
	if len(all) != 2 {
		t.Fatalf("backlog versions = %d, want 2", len(all))
	}
	versions, err := h.svc.DocumentVersions(ctx, all[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 2 || versions[0].Version != 2 || !versions[0].IsLatest || versions[1].IsLatest ||
		versions[1].Acceptance.Status != combine.AcceptanceRejected || versions[1].Acceptance.Comment != "we need two epics" {
		t.Fatalf("versions = %+v / %+v", versions[0], versions[1])
	}
	evs := h.events(e.ID)
	if evs[0] != combine.EventExecutionStarted || evs[len(evs)-1] != combine.EventExecutionCompleted {
		t.Fatalf("events = %v", evs)
	}
	metrics, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, mf := range metrics {
		if mf.GetName() == "combine_engine_events_total" {
			for _, m := range mf.GetMetric() {
				counted[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if counted[combine.EventExecutionCompleted] != 1 || counted[combine.EventInputNeeded] != 10 {
		t.Fatalf("event metrics = %v", counted)
	}
	// A finished execution refuses every action with 409.
	_, err = h.svc.SubmitDocument(op, e.ID, doc("late"))
	wantCode(t, err, combine.ECONFLICT)
	_, err = h.svc.CancelExecution(admin, e.ID)
	wantCode(t, err, combine.ECONFLICT)
}
