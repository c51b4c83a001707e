package engine_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/thecombine/combine"
)

// TestAcceptWithEdits: a reviewer fixes a small thing instead of sending
// the document back. The corrected document passes QA, is stored as the
// next version created by the reviewer and accepted in one transaction;
// the reviewed version is superseded; the decision records both; the
// execution moves on reading the corrected version.
func TestAcceptWithEdits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	e := h.start("edits")
	h.submit(op, e.ID, "discovery", doc("D"))
	h.submit(op, e.ID, "backlog", doc("Backlog", "epics", `[{"id": "E1"}, {"id": "E2"}]`))
	_, it := h.item(e.ID, "backlog", combine.WorkAcceptance)
	d := combine.Decision{StepPath: "backlog", Attempt: it.Attempt, DocumentID: it.Document.DocumentID, Version: it.Document.Version,
		Accepted: true, Comment: "dropped E2, it belongs elsewhere"}

	// A correction that fails QA changes nothing.
	d.Content = json.RawMessage(`{"epics": [{"id": "E1"}]}`)
	_, err := h.svc.DecideAcceptance(pm, e.ID, d)
	if ce := wantCode(t, err, combine.EINVALID); len(ce.Details["problems"].([]string)) == 0 {
		t.Fatalf("no problems in %+v", ce.Details)
	}
	if _, again := h.item(e.ID, "backlog", combine.WorkAcceptance); again.Document.Version != 1 {
		t.Fatalf("a refused correction changed the item: %+v", again)
	}
	// With a rejection, content is refused.
	d.Accepted = false
	_, err = h.svc.DecideAcceptance(pm, e.ID, d)
	wantCode(t, err, combine.EINVALID)

	d.Accepted, d.Content = true, json.RawMessage(doc("Backlog (edited)", "epics", `[{"id": "E1"}]`))
	if _, err := h.svc.DecideAcceptance(pm, e.ID, d); err != nil {
		t.Fatal(err)
	}
	// Only E1 is iterated: the corrected version is what the execution reads.
	items := h.paths(e.ID, "per_epic[E1]/stories")
	if in := items["per_epic[E1]/stories"].Inputs; len(in) < 1 || in[0].Version != 2 {
		t.Fatalf("the story backlog reads %+v, want the backlog's version 2", in)
	}
	versions, err := h.svc.DocumentVersions(ctx, it.Document.DocumentID)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 2 {
		t.Fatalf("%d versions, want 2", len(versions))
	}
	v2, v1 := versions[0], versions[1]
	if v2.Version != 2 || v2.CreatedBy != "user:usr_pm" || v2.Acceptance.Status != combine.AcceptanceAccepted ||
		v2.Acceptance.DecidedBy != "usr_pm" || v2.Title != "Backlog (edited)" || !v2.IsLatest {
		t.Fatalf("edited version = %+v", v2)
	}
	if v1.Acceptance.Status != combine.AcceptanceSuperseded || v1.Acceptance.Comment != d.Comment {
		t.Fatalf("reviewed version = %+v", v1.Acceptance)
	}
	var reviewed, acceptedVersion int
	var acceptedID string
	if err := h.db.R.QueryRow(`SELECT document_version, accepted_document_id, accepted_version FROM acceptance_decisions
		WHERE execution_id = $1`, e.ID).Scan(&reviewed, &acceptedID, &acceptedVersion); err != nil {
		t.Fatal(err)
	}
	if reviewed != 1 || acceptedID != v2.ID || acceptedVersion != 2 {
		t.Fatalf("decision records %d → %s v%d", reviewed, acceptedID, acceptedVersion)
	}
}
