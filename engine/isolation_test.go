package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/thecombine/combine"
)

// TestExecutionsOfOneProjectDoNotSteerEachOther: A accepts epics E1, E2
// and waits at E1's story backlog; B (same project) accepts epics X1, X2.
// A goes on with E1 and E2 — its own backlog — and each execution ends
// with its own documents; versions stay per project, type and scope.
func TestExecutionsOfOneProjectDoNotSteerEachOther(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a, b := h.start("shared").ID, h.start("shared").ID
	for _, x := range []struct{ id, prefix string }{{a, "E"}, {b, "X"}} {
		h.submit(op, x.id, "discovery", doc("Discovery "+x.prefix))
		h.submit(op, x.id, "backlog", doc("Backlog "+x.prefix, "epics", `[{"id": "`+x.prefix+`1"}, {"id": "`+x.prefix+`2"}]`))
	}
	h.decide(pm, a, "backlog", true, "")
	h.paths(a, "per_epic[E1]/stories", "per_epic[E2]/stories")
	h.decide(pm, b, "backlog", true, "") // B's backlog is now the project's latest
	h.paths(b, "per_epic[X1]/stories", "per_epic[X2]/stories")

	drive := func(id, prefix string) {
		for _, epic := range []string{prefix + "1", prefix + "2"} {
			path := "per_epic[" + epic + "]/stories"
			h.submit(op, id, path, doc("Stories of "+epic, "stories", `[{"id": "S1"}]`))
			h.decide(ba, id, path, true, "")
		}
		for _, epic := range []string{prefix + "1", prefix + "2"} {
			path := "per_epic[" + epic + "]/per_story[S1]/notes"
			_, it := h.item(id, path, combine.WorkInput)
			// The notes read this execution's story backlog of this epic.
			for _, in := range it.Inputs {
				if in.DocumentType == "story_backlog" && in.ScopeID != "epic:"+epic {
					t.Fatalf("%s reads %+v", path, in)
				}
			}
			h.submit(op, id, path, doc("Notes "+epic))
		}
		h.wait(id, combine.StatusCompleted)
	}
	drive(a, "E")
	drive(b, "X")

	for _, x := range []struct{ id, prefix, other string }{{a, "E", "X"}, {b, "X", "E"}} {
		docs, total, err := h.svc.ListDocuments(context.Background(), combine.DocumentFilter{ExecutionID: x.id})
		if err != nil {
			t.Fatal(err)
		}
		// discovery, backlog, 2 story backlogs, 2 notes.
		if total != 6 {
			t.Fatalf("execution %s has %d documents, want 6", x.id, total)
		}
		for _, d := range docs {
			if strings.Contains(d.ScopeID, x.other) || strings.Contains(d.Title, " "+x.other) {
				t.Fatalf("execution %s holds the other execution's %s %s %q", x.id, d.DocumentType, d.ScopeID, d.Title)
			}
			if d.ExecutionID != x.id {
				t.Fatalf("document %s of execution %s listed for %s", d.ID, d.ExecutionID, x.id)
			}
		}
	}
	// Versions are per project: B's discovery and backlog are version 2.
	docs, _, _ := h.svc.ListDocuments(context.Background(), combine.DocumentFilter{ExecutionID: b, DocumentType: "epic_backlog"})
	if len(docs) != 1 || docs[0].Version != 2 || !docs[0].IsLatest {
		t.Fatalf("B's backlog = %+v, want version 2 and latest of the project", docs)
	}
	docs, _, _ = h.svc.ListDocuments(context.Background(), combine.DocumentFilter{ExecutionID: a, DocumentType: "epic_backlog"})
	if len(docs) != 1 || docs[0].Version != 1 || docs[0].IsLatest {
		t.Fatalf("A's backlog = %+v, want version 1, no longer the project's latest", docs)
	}
}

// TestVersionsOfOneScopeFromExecutionsAtOnce: six executions of one
// project submit their discovery at the same moment; every submission is
// stored as its own version of the project's discovery, exactly one is the
// latest, and each execution reads its own.
func TestVersionsOfOneScopeFromExecutionsAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var ids []string
	for range 6 {
		id := h.start("same-scope").ID
		h.item(id, "discovery", combine.WorkInput)
		ids = append(ids, id)
	}
	errs := make(chan error, len(ids))
	for i, id := range ids {
		go func() {
			_, err := h.svc.SubmitDocument(op, id, combine.Submission{StepPath: "discovery", Attempt: 1,
				Content: json.RawMessage(doc(fmt.Sprintf("Discovery %d", i)))})
			errs <- err
		}()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	versions := map[int]bool{}
	latest := 0
	for i, id := range ids {
		docs, _, err := h.svc.ListDocuments(context.Background(), combine.DocumentFilter{ExecutionID: id})
		if err != nil || len(docs) != 1 || docs[0].Title != fmt.Sprintf("Discovery %d", i) {
			t.Fatalf("execution %d documents = %+v (%v)", i, docs, err)
		}
		versions[docs[0].Version] = true
		if docs[0].IsLatest {
			latest++
		}
		_, it := h.item(id, "backlog", combine.WorkInput)
		if it.Inputs[0].DocumentID != docs[0].ID {
			t.Fatalf("execution %d reads %+v, not its own discovery %s", i, it.Inputs, docs[0].ID)
		}
	}
	if len(versions) != 6 || !versions[1] || !versions[6] || latest != 1 {
		t.Fatalf("versions %v, %d latest; want 1..6 and one latest", versions, latest)
	}
}
