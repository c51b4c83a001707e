package engine_test

import (
	"encoding/json"
	"testing"

	"github.com/thecombine/combine"
)

// TestStaleAndDoubleActionsConflict: every action names its work item;
// a double click, a stale page or a late decision is 409 with the current
// pending list, and uses no attempt.
func TestStaleAndDoubleActionsConflict(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.start("pinned")
	attempts := func() int {
		return h.count(`SELECT COUNT(*) FROM step_attempts WHERE execution_id = $1`, e.ID)
	}
	conflict := func(err error) {
		t.Helper()
		ce := wantCode(t, err, combine.ECONFLICT)
		if _, ok := ce.Details["pending"].([]*combine.WorkItem); !ok {
			t.Fatalf("409 without the pending list: %+v", ce.Details)
		}
	}
	invalid := func(err error) {
		t.Helper()
		wantCode(t, err, combine.EINVALID)
	}
	submit := func(path string, attempt int, content string) error {
		_, err := h.svc.SubmitDocument(op, e.ID, combine.Submission{StepPath: path, Attempt: attempt, Content: json.RawMessage(content)})
		return err
	}
	h.item(e.ID, "discovery", combine.WorkInput)

	// Bodies that are not a document are 400 and use nothing.
	before := attempts()
	invalid(submit("discovery", 1, `[]`))
	invalid(submit("discovery", 1, `"text"`))
	invalid(submit("discovery", 1, ``))
	invalid(submit("", 1, doc("no path")))
	invalid(submit("discovery", 0, doc("no attempt")))
	invalid(submit("discovery", 1, "{\"title\": \"nul \x00 byte\"}"))
	invalid(submit("discovery", 1, "{\"title\": \"bad \xff utf8\"}"))
	// Work items that are not open are 409 and use nothing.
	conflict(submit("backlog", 1, doc("too early")))
	conflict(submit("nowhere", 1, doc("unknown step")))
	conflict(submit("discovery", 2, doc("future attempt")))
	if got := attempts(); got != before {
		t.Fatalf("refused bodies used attempts: %d, was %d", got, before)
	}

	// A double click: the second copy of the same submission conflicts.
	if err := submit("discovery", 1, doc("Discovery")); err != nil {
		t.Fatal(err)
	}
	conflict(submit("discovery", 1, doc("Discovery")))
	// A stale discovery posted while the backlog waits: 409, and the
	// backlog keeps all its attempts.
	_, it := h.item(e.ID, "backlog", combine.WorkInput)
	conflict(submit("discovery", 1, doc("stale")))
	if _, it2 := h.item(e.ID, "backlog", combine.WorkInput); it2.Attempt != it.Attempt || it2.AttemptsLeft != 3 {
		t.Fatalf("a stale submission touched the backlog: %+v", it2)
	}

	// A late decision: the reviewer saw version 1, the step was redone
	// meanwhile; accepting version 1 now conflicts, as does accepting
	// a version that does not exist.
	h.submit(op, e.ID, "backlog", doc("Backlog v1", "epics", `[{"id": "E1"}]`))
	_, v1 := h.item(e.ID, "backlog", combine.WorkAcceptance)
	h.decide(pm, e.ID, "backlog", false, "one more epic")
	h.submit(op, e.ID, "backlog", doc("Backlog v2", "epics", `[{"id": "E1"}, {"id": "E2"}]`))
	_, v2 := h.item(e.ID, "backlog", combine.WorkAcceptance)
	late := combine.Decision{StepPath: "backlog", DocumentID: v1.Document.DocumentID, Version: 1, Accepted: true}
	_, err := h.svc.DecideAcceptance(pm, e.ID, late)
	conflict(err)
	late.Attempt = v1.Attempt
	late.DocumentID, late.Version = v2.Document.DocumentID, v2.Document.Version
	_, err = h.svc.DecideAcceptance(pm, e.ID, late) // right document, stale attempt
	conflict(err)
	wrongVersion := combine.Decision{StepPath: "backlog", Attempt: v2.Attempt, DocumentID: v2.Document.DocumentID, Version: 7, Accepted: true}
	_, err = h.svc.DecideAcceptance(pm, e.ID, wrongVersion)
	conflict(err)
	// The right decision goes through once; a double click conflicts.
	right := combine.Decision{StepPath: "backlog", Attempt: v2.Attempt, DocumentID: v2.Document.DocumentID, Version: v2.Document.Version, Accepted: true}
	if _, err := h.svc.DecideAcceptance(pm, e.ID, right); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.DecideAcceptance(pm, e.ID, right)
	conflict(err)
	h.paths(e.ID, "per_epic[E1]/stories", "per_epic[E2]/stories")
	if n := h.count(`SELECT COUNT(*) FROM acceptance_decisions WHERE execution_id = $1`, e.ID); n != 2 {
		t.Fatalf("%d decisions recorded, want 2 (the rejection and one acceptance)", n)
	}
}

// TestStoryNotesCannotLandInAnotherStory: posting story S1's notes twice
// never stores the second copy as S2's document.
func TestStoryNotesCannotLandInAnotherStory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *engineConfig) { c.IterationConcurrency = 1 })
	e := h.start("pinned-story")
	h.submit(op, e.ID, "discovery", doc("D"))
	h.submit(op, e.ID, "backlog", doc("B", "epics", `[{"id": "E1"}]`))
	h.decide(pm, e.ID, "backlog", true, "")
	h.submit(op, e.ID, "per_epic[E1]/stories", doc("S", "stories", `[{"id": "S1"}, {"id": "S2"}]`))
	h.decide(ba, e.ID, "per_epic[E1]/stories", true, "")
	s1 := "per_epic[E1]/per_story[S1]/notes"
	notes := doc("Notes", "story_id", `"S1"`)
	h.submit(op, e.ID, s1, notes)
	_, err := h.svc.SubmitDocument(op, e.ID, combine.Submission{StepPath: s1, Attempt: 1, Content: json.RawMessage(notes)})
	wantCode(t, err, combine.ECONFLICT)
	_, it := h.item(e.ID, "per_epic[E1]/per_story[S2]/notes", combine.WorkInput)
	if it.ScopeID != "epic:E1/story:S2" || it.Attempt != 1 {
		t.Fatalf("S2's item = %+v", it)
	}
	if n := h.count(`SELECT COUNT(*) FROM documents WHERE execution_id = $1 AND scope_id = 'epic:E1/story:S2'`, e.ID); n != 0 {
		t.Fatalf("S1's notes were stored as S2's document (%d)", n)
	}
}
