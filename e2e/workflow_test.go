package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine/enginetest"
)

// TestSoftwareProductDevelopmentByPeople runs the whole built-in workflow
// through the HTTP API as people do: a QA failure and its remediation, a
// clarification round, a rejection and redo, acceptances by the reviewer
// roles, two epics with two stories each, and completion with exactly the
// expected latest documents — while a viewer follows the run over SSE.
func TestSoftwareProductDevelopmentByPeople(t *testing.T) {
	t.Parallel()
	p := startInProcess(t, enginetest.AskingPerson{Step: "epic_backlog"})
	op, pm, architect, ba, viewer := p.as(t, "operator"), p.as(t, "pm"), p.as(t, "architect"), p.as(t, "ba"), p.as(t, "viewer")
	const project = "acme"

	e := op.start(project)
	if e.Status != combine.StatusPending || e.ProjectID != project || e.WorkflowID != builtinWorkflow {
		t.Fatalf("started execution: %s", fmtJSON(e))
	}
	type followed struct {
		evs []*combine.Event
		err error
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	streamed := make(chan followed, 1)
	go func() { evs, err := viewer.follow(ctx, e.ID); streamed <- followed{evs, err} }()

	submit := func(c *client, step, scope string, rev int) {
		t.Helper()
		it := c.item(e.ID, step, scope, combine.WorkInput)
		if it.DocumentType == "" || len(it.Schema) == 0 || it.Inputs == nil {
			t.Fatalf("input item of %s: %s", step, fmtJSON(it))
		}
		c.submit(e.ID, it, document(it.DocumentType, scope, rev), http.StatusOK)
	}
	decide := func(c *client, step, scope string, accepted bool, comment string) {
		t.Helper()
		it := c.item(e.ID, step, scope, combine.WorkAcceptance)
		if it.Document == nil || it.Document.Version == 0 || len(it.AcceptedBy) == 0 {
			t.Fatalf("acceptance item of %s: %s", step, fmtJSON(it))
		}
		c.decide(e.ID, it, accepted, comment, http.StatusOK)
	}

	// Discovery: a document failing its schema is refused with the
	// problems, and the same step takes the remediated one as attempt 2.
	it := op.item(e.ID, "project_discovery", project, combine.WorkInput)
	body := op.submit(e.ID, it, invalidDocument("project_discovery", project), http.StatusBadRequest)
	if !strings.Contains(string(body), "problems") {
		t.Fatalf("invalid discovery: %s", body)
	}
	op.submit(e.ID, it, document("project_discovery", project, 1), http.StatusConflict) // attempt 1 is gone
	it = op.item(e.ID, "project_discovery", project, combine.WorkInput)
	if len(it.Problems) == 0 || it.Attempt != 2 {
		t.Fatalf("remediation item should carry the QA problems and a new attempt: %s", fmtJSON(it))
	}
	submit(op, "project_discovery", project, 1)

	// Epic backlog: the worker asks; a person answers; the step resumes.
	it = op.item(e.ID, "epic_backlog", project, combine.WorkClarification)
	if len(it.Questions) != 2 || it.Questions[0].WhyItMatters == "" {
		t.Fatalf("clarification item: %s", fmtJSON(it))
	}
	answer := func(c *client, answers map[string]string, want int) {
		c.must("POST", "/api/v1/executions/"+e.ID+"/clarification",
			map[string]any{"step_path": it.StepPath, "attempt": it.Attempt, "answers": answers}, want, nil)
	}
	answer(viewer, map[string]string{"q1": "Europe"}, http.StatusForbidden)
	answer(op, map[string]string{"q2": "no"}, http.StatusBadRequest)
	answer(op, map[string]string{"q1": "Europe first", "q2": "Not yet"}, http.StatusOK)
	answer(op, map[string]string{"q1": "Europe first", "q2": "Not yet"}, http.StatusConflict) // a double click
	submit(pm, "epic_backlog", project, 1)

	// A reviewer without the pm role may not decide; the pm rejects, the
	// step is redone with the comment, and the second version is accepted.
	it = op.item(e.ID, "epic_backlog", project, combine.WorkAcceptance)
	architect.decide(e.ID, it, true, "", http.StatusForbidden)
	decide(pm, "epic_backlog", project, false, "Split the second epic by market.")
	pm.decide(e.ID, it, true, "late", http.StatusConflict) // the reviewer never saw the redo
	it = op.item(e.ID, "epic_backlog", project, combine.WorkInput)
	if it.ReviewerComment != "Split the second epic by market." {
		t.Fatalf("redo item should carry the reviewer's comment: %s", fmtJSON(it))
	}
	submit(pm, "epic_backlog", project, 2)
	decide(pm, "epic_backlog", project, true, "Good.")

	submit(architect, "project_architecture", project, 1)
	decide(architect, "project_architecture", project, true, "")

	// The epics run side by side: both epic architectures are open at once.
	for _, epic := range epicIDs {
		op.item(e.ID, "epic_architecture", "epic:"+epic, combine.WorkInput)
	}
	for _, epic := range epicIDs {
		es := "epic:" + epic
		submit(architect, "epic_architecture", es, 1)
		submit(ba, "story_backlog", es, 1)
		decide(ba, "story_backlog", es, true, "")
	}
	for _, epic := range epicIDs {
		for _, story := range storyIDs {
			scope := "epic:" + epic + "/story:" + story
			it := op.item(e.ID, "implementation_notes", scope, combine.WorkInput)
			// The notes read the story, its epic (an ancestor's item) and the architectures.
			read := map[string]bool{}
			for _, in := range it.Inputs {
				read[in.EntityType+in.DocumentType] = true
			}
			if !read["storystory_backlog"] || !read["epicepic_backlog"] || !read["epic_architecture"] || !read["project_architecture"] {
				t.Fatalf("notes of %s read %s", scope, fmtJSON(it.Inputs))
			}
			submit(op, "implementation_notes", scope, 1)
		}
	}

	done := op.waitFor(e.ID, combine.StatusCompleted)
	if len(done.Pending) != 0 || done.FinishedAt == nil {
		t.Fatalf("completed execution: %s", fmtJSON(done))
	}
	docs := op.latestDocuments(e.ID)
	sameSet(t, "latest documents", latestSet(docs), expectedLatest(project, map[string]int{"epic_backlog@" + project: 2}))
	for _, d := range docs {
		want, _ := json.Marshal(document(d.DocumentType, d.ScopeID, d.Version))
		if !jsonEqual(t, d.Content, want) {
			t.Errorf("%s in %s v%d: content %s, want %s", d.DocumentType, d.ScopeID, d.Version, d.Content, want)
		}
		if !d.IsLatest {
			t.Errorf("%s in %s: listed as latest but is_latest is false", d.DocumentType, d.ScopeID)
		}
		if d.Acceptance.Status == combine.AcceptancePending || d.Acceptance.Status == combine.AcceptanceRejected {
			t.Errorf("%s in %s: acceptance %s after completion", d.DocumentType, d.ScopeID, d.Acceptance.Status)
		}
	}
	checkBacklogVersions(t, op, docs, project)

	f := <-streamed
	if f.err != nil {
		t.Fatalf("following the events: %v", f.err)
	}
	checkEventLog(t, f.evs, combine.EventExecutionCompleted)
	counts := map[string]int{}
	for _, ev := range f.evs {
		counts[ev.Type]++
	}
	// 11 documents plus the rejected first epic backlog; 5 acceptances
	// asked (epic backlog twice); one clarification round.
	for typ, n := range map[string]int{
		combine.EventDocumentProduced: 12, combine.EventAcceptanceNeeded: 5, combine.EventClarificationNeeded: 1,
		combine.EventStepCompleted: 11, combine.EventExecutionCompleted: 1,
	} {
		if counts[typ] != n {
			t.Errorf("%d %s events, want %d (all: %v)", counts[typ], typ, n, counts)
		}
	}
}

// checkBacklogVersions: the rejected first version of the epic backlog is
// kept, not latest, with the reviewer's decision on it.
func checkBacklogVersions(t *testing.T, c *client, docs []*document_, project string) {
	t.Helper()
	for _, d := range docs {
		if d.DocumentType != "epic_backlog" {
			continue
		}
		var out struct {
			Versions []*document_ `json:"versions"`
		}
		c.must("GET", "/api/v1/documents/"+d.ID+"/versions", nil, http.StatusOK, &out)
		if len(out.Versions) != 2 || out.Versions[0].Version != 2 || out.Versions[1].Version != 1 {
			t.Fatalf("epic backlog versions: %s", fmtJSON(out.Versions))
		}
		v1 := out.Versions[1]
		if v1.IsLatest || v1.Acceptance.Status != combine.AcceptanceRejected || v1.Acceptance.Comment != "Split the second epic by market." || v1.Acceptance.DecidedBy == "" {
			t.Fatalf("rejected version: %s", fmtJSON(v1))
		}
		if out.Versions[0].Acceptance.Status != combine.AcceptanceAccepted {
			t.Fatalf("accepted version: %s", fmtJSON(out.Versions[0]))
		}
		return
	}
	t.Fatal("no epic backlog among the latest documents")
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("bad JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
