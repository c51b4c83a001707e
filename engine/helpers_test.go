package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// testWorkflow is project discovery → epic backlog (pm accepts) → per
// epic: story backlog (ba accepts) → per story: notes.
const testWorkflow = `{
  "schema_version": "workflow.v1", "workflow_id": "tiny", "revision": "r1", "effective_date": "2026-01-01", "name": "Tiny",
  "scopes": {"project": {"parent": null}, "epic": {"parent": "project"}, "story": {"parent": "epic"}},
  "document_types": {
    "discovery": {"name": "Discovery", "scope": "project"},
    "epic_backlog": {"name": "Epic backlog", "scope": "project", "may_own": ["epic"], "collection_field": "epics",
      "acceptance_required": true, "accepted_by": ["pm"]},
    "story_backlog": {"name": "Story backlog", "scope": "epic", "may_own": ["story"], "collection_field": "stories",
      "acceptance_required": true, "accepted_by": ["ba"]},
    "notes": {"name": "Notes", "scope": "story"}
  },
  "entity_types": {
    "epic": {"name": "Epic", "parent_doc_type": "epic_backlog", "creates_scope": "epic"},
    "story": {"name": "Story", "parent_doc_type": "story_backlog", "creates_scope": "story"}
  },
  "steps": [
    {"step_id": "discovery", "role": "pm", "task_prompt": "discovery", "produces": "discovery", "scope": "project"},
    {"step_id": "backlog", "role": "pm", "task_prompt": "backlog", "produces": "epic_backlog", "scope": "project",
      "inputs": [{"doc_type": "discovery", "scope": "project"}]},
    {"step_id": "per_epic", "scope": "epic", "iterate_over": {"doc_type": "epic_backlog", "collection_field": "epics", "entity_type": "epic"},
      "steps": [
        {"step_id": "stories", "role": "ba", "task_prompt": "stories", "produces": "story_backlog", "scope": "epic",
          "inputs": [{"doc_type": "epic_backlog", "scope": "project"}, {"entity_type": "epic", "scope": "epic", "context": true}]},
        {"step_id": "per_story", "scope": "story", "iterate_over": {"doc_type": "story_backlog", "collection_field": "stories", "entity_type": "story"},
          "steps": [
            {"step_id": "notes", "role": "developer", "task_prompt": "notes", "produces": "notes", "scope": "story",
              "inputs": [{"doc_type": "story_backlog", "scope": "epic"}, {"entity_type": "story", "scope": "story", "context": true}]}
          ]}
      ]}
  ]
}`

// fakeWorkflows serves testWorkflow; its "schema" for every type is: a
// string "title" is required.
type fakeWorkflows struct{ wf *combine.Workflow }

func newFakeWorkflows(t *testing.T) *fakeWorkflows {
	t.Helper()
	var wf combine.Workflow
	if err := json.Unmarshal([]byte(testWorkflow), &wf); err != nil {
		t.Fatal(err)
	}
	return &fakeWorkflows{wf: &wf}
}

func (f *fakeWorkflows) ListWorkflows(context.Context) ([]*combine.Workflow, error) {
	return []*combine.Workflow{f.wf}, nil
}

func (f *fakeWorkflows) FindWorkflow(_ context.Context, id string) (*combine.Workflow, error) {
	if id != f.wf.ID {
		return nil, combine.Errorf(combine.ENOTFOUND, "workflow %q not found", id)
	}
	return f.wf, nil
}

func (f *fakeWorkflows) DocumentSchema(context.Context, string, string) (json.RawMessage, error) {
	return json.RawMessage(`{"type":"object","required":["title"]}`), nil
}

func (f *fakeWorkflows) ValidateDocument(_ context.Context, _, _ string, content json.RawMessage) ([]combine.Problem, error) {
	var v map[string]any
	if err := json.Unmarshal(content, &v); err != nil {
		return []combine.Problem{{Code: "parse", Path: "$", Message: "not JSON"}}, nil
	}
	if _, ok := v["title"].(string); !ok {
		return []combine.Problem{{Code: "required", Path: "$.title", Message: "title is required"}}, nil
	}
	return nil, nil
}

func (f *fakeWorkflows) StepPrompts(context.Context, string, string) (*combine.StepPrompts, error) {
	return &combine.StepPrompts{}, nil
}

func (f *fakeWorkflows) ClarificationSchema() json.RawMessage { return json.RawMessage(`{}`) }

func (f *fakeWorkflows) ValidateClarification(json.RawMessage) []combine.Problem { return nil }

// funcWorker is a worker scripted by the test.
type funcWorker struct {
	mu    sync.Mutex
	calls []*combine.Task
	fn    func(ctx context.Context, t *combine.Task) (*combine.WorkResult, error)
}

func (w *funcWorker) Name() string { return "scripted" }

func (w *funcWorker) Work(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
	w.mu.Lock()
	w.calls = append(w.calls, t)
	w.mu.Unlock()
	return w.fn(ctx, t)
}

func (w *funcWorker) tasks() []*combine.Task {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

type harness struct {
	t   *testing.T
	db  *sqldb.DB
	svc *engine.Service
	wfs *fakeWorkflows
}

// newHarness starts an engine on a fresh database with worker (nil: the
// person worker).
func newHarness(t *testing.T, worker combine.Worker, mod ...func(*engine.Config)) *harness {
	t.Helper()
	db := testdb.Open(t)
	ctx := context.Background()
	if err := engine.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	wfs := newFakeWorkflows(t)
	cfg := engine.Config{
		DB: db, Workflows: wfs, Worker: worker, InstanceID: "test",
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: 20 * time.Millisecond, CancelPoll: 50 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	svc, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Stop(sctx)
	})
	return &harness{t: t, db: db, svc: svc, wfs: wfs}
}

// as returns a context authenticated as a user with roles.
func as(userID string, roles ...string) context.Context {
	return combine.NewContextWithAuth(context.Background(), &combine.AuthContext{
		UserID: userID, Roles: roles, Permissions: combine.PermissionsForRoles(roles),
	})
}

var admin = as("usr_admin", "admin")

func (h *harness) start(project string) *combine.Execution {
	h.t.Helper()
	e, err := h.svc.StartExecution(admin, combine.StartExecution{WorkflowID: "tiny", ProjectID: project})
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// wait polls until the execution reaches one of the statuses.
func (h *harness) wait(id string, want ...combine.ExecutionStatus) *combine.Execution {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		e, err := h.svc.FindExecution(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		if slices.Contains(want, e.Status) {
			return e
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("execution %s is %s (pending %+v, error %q), want %v", id, e.Status, e.Pending, e.Error, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStep waits for a waiting status at a given step path.
func (h *harness) waitStep(id string, status combine.ExecutionStatus, path string) *combine.Execution {
	h.t.Helper()
	e := h.wait(id, status, combine.StatusFailed, combine.StatusCompleted, combine.StatusCancelled)
	if e.Status != status || e.Pending == nil || e.Pending.StepPath != path {
		h.t.Fatalf("execution is %s at %+v (error %q), want %s at %s", e.Status, e.Pending, e.Error, status, path)
	}
	return e
}

func doc(title string, extra ...string) combine.Submission {
	body := fmt.Sprintf(`{"title": %q`, title)
	for i := 0; i+1 < len(extra); i += 2 {
		body += fmt.Sprintf(`, %q: %s`, extra[i], extra[i+1])
	}
	return combine.Submission{Content: json.RawMessage(body + "}")}
}

func (h *harness) events(id string) []string {
	h.t.Helper()
	evs, err := h.svc.ListEvents(context.Background(), id, 0, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			h.t.Fatalf("event %d has seq %d: the log has a gap", i, ev.Seq)
		}
		out = append(out, ev.Type)
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := combine.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}
