package engine_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/thecombine/combine"
)

// TestPeopleRunTheWholeWorkflow walks the tiny workflow done by people:
// a QA failure and remediation, a rejection and redo, reviewer roles,
// then 2 epics × 2 stories worked side by side with distinct scope ids.
func TestPeopleRunTheWholeWorkflow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	e := h.start("acme")
	if e.Pending == nil || e.Running == nil {
		t.Fatalf("a new execution lists null work items: %+v", e)
	}

	_, it := h.item(e.ID, "discovery", combine.WorkInput)
	if it.DocumentType != "discovery" || it.ScopeID != "acme" || len(it.Schema) == 0 || it.Attempt != 1 ||
		it.AttemptsLeft != 3 || it.Role != "business_analyst" || len(it.Inputs) != 0 {
		t.Fatalf("discovery item = %+v", it)
	}
	// QA failure: refused with the problems, recorded with its sender, then remediation.
	_, err := h.svc.SubmitDocument(op, e.ID, combine.Submission{StepPath: "discovery", Attempt: 1, Content: json.RawMessage(`{"summary": "no title"}`)})
	ce := wantCode(t, err, combine.EINVALID)
	if probs := ce.Details["problems"].([]string); len(probs) != 1 || !strings.Contains(probs[0], "title") {
		t.Fatalf("problems = %v", probs)
	}
	if n := h.count(`SELECT COUNT(*) FROM step_attempts WHERE execution_id = $1 AND status = 'qa_failed' AND worker = 'user:usr_op'`, e.ID); n != 1 {
		t.Fatalf("refused attempts recorded with their sender: %d, want 1", n)
	}
	_, it = h.item(e.ID, "discovery", combine.WorkInput)
	if it.Attempt != 2 || len(it.Problems) != 1 || it.AttemptsLeft != 2 {
		t.Fatalf("after a QA failure the item is %+v", it)
	}
	h.submit(op, e.ID, "discovery", doc("Discovery"))

	h.submit(op, e.ID, "backlog", doc("Backlog v1", "epics", `[{"id": "E1"}]`))
	_, it = h.item(e.ID, "backlog", combine.WorkAcceptance)
	if it.Document == nil || it.Document.Version != 1 || !slices.Equal(it.AcceptedBy, []string{"pm"}) || it.RejectionsLeft != 3 {
		t.Fatalf("acceptance item = %+v", it)
	}
	if len(it.Inputs) != 1 || it.Inputs[0].DocumentType != "discovery" || it.Inputs[0].Version != 1 {
		t.Fatalf("backlog read %+v, want discovery version 1", it.Inputs)
	}
	// Only pm (or admin) decides; a rejection needs a comment.
	d := combine.Decision{StepPath: "backlog", Attempt: 1, DocumentID: it.Document.DocumentID, Version: 1, Accepted: true}
	ce = wantCode(t, func() error { _, err := h.svc.DecideAcceptance(ba, e.ID, d); return err }(), combine.EFORBIDDEN)
	if roles := ce.Details["required_roles"].([]string); !slices.Equal(roles, []string{"pm"}) || ce.Permission != "" {
		t.Fatalf("forbidden decision names %v / %q, want the reviewer roles", roles, ce.Permission)
	}
	d.Accepted = false
	wantCode(t, func() error { _, err := h.svc.DecideAcceptance(pm, e.ID, d); return err }(), combine.EINVALID)
	h.decide(pm, e.ID, "backlog", false, "we need two epics")
	_, it = h.item(e.ID, "backlog", combine.WorkInput)
	if it.ReviewerComment != "we need two epics" || it.Attempt != 2 || it.RejectionsLeft != 2 {
		t.Fatalf("redo item = %+v", it)
	}
	h.submit(op, e.ID, "backlog", doc("Backlog v2", "epics", `[{"id": "E1"}, {"id": "E2"}]`))
	_, it = h.item(e.ID, "backlog", combine.WorkAcceptance)
	if it.Document.Version != 2 {
		t.Fatalf("redo produced version %d, want 2", it.Document.Version)
	}
	h.decide(pm, e.ID, "backlog", true, "good")

	// Both epics open at once, in their own scopes.
	items := h.paths(e.ID, "per_epic[E1]/stories", "per_epic[E2]/stories")
	for _, epic := range []string{"E1", "E2"} {
		it := items["per_epic["+epic+"]/stories"]
		if it.ScopeType != "epic" || it.ScopeID != "epic:"+epic || it.Item == nil || it.Item.ID != epic || it.Item.EntityType != "epic" {
			t.Fatalf("epic item = %+v", it)
		}
	}
	for _, epic := range []string{"E2", "E1"} {
		path := "per_epic[" + epic + "]/stories"
		h.submit(op, e.ID, path, doc("Stories of "+epic, "stories", `[{"id": "S1"}, {"story_id": "S2"}]`))
		h.decide(admin, e.ID, path, true, "")
	}
	want := []string{}
	for _, epic := range []string{"E1", "E2"} {
		for _, story := range []string{"S1", "S2"} {
			want = append(want, "per_epic["+epic+"]/per_story["+story+"]/notes")
		}
	}
	items = h.paths(e.ID, want...)
	for _, path := range want {
		it := items[path]
		epic, story := path[9:11], path[23:25]
		if it.ScopeID != "epic:"+epic+"/story:"+story {
			t.Fatalf("story scope id = %q at %s", it.ScopeID, path)
		}
		h.submit(op, e.ID, path, doc("Notes "+epic+story))
	}
	e = h.wait(e.ID, combine.StatusCompleted)
	if len(e.Pending) != 0 || len(e.Running) != 0 || e.FinishedAt == nil {
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
	if !scopes["notes epic:E2/story:S1"] || !scopes["notes epic:E1/story:S2"] || !scopes["story_backlog epic:E1"] || len(scopes) != 8 {
		t.Fatalf("scopes = %v", scopes)
	}
	all, _, _ := h.svc.ListDocuments(ctx, combine.DocumentFilter{ExecutionID: e.ID, DocumentType: "epic_backlog"})
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
	// discovery ×2, backlog ×2, 2 story backlogs, 4 notes.
	if counted[combine.EventExecutionCompleted] != 1 || counted[combine.EventInputNeeded] != 10 {
		t.Fatalf("event metrics = %v", counted)
	}
	// A finished execution refuses every action with 409.
	_, err = h.svc.SubmitDocument(op, e.ID, combine.Submission{StepPath: "discovery", Attempt: 1, Content: json.RawMessage(doc("late"))})
	wantCode(t, err, combine.ECONFLICT)
	_, err = h.svc.CancelExecution(admin, e.ID)
	wantCode(t, err, combine.ECONFLICT)
	_, err = h.svc.RetryExecution(admin, e.ID, "")
	wantCode(t, err, combine.ECONFLICT)
}
