// Package enginetest holds test doubles shared by the engine's and the
// HTTP layer's tests: a small workflow with two nested iterations.
package enginetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/thecombine/combine"
)

// TinyWorkflow ("tiny") is project discovery → epic backlog (pm accepts) → per
// epic: story backlog (ba accepts) → per story: notes.
const TinyWorkflow = `{
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

// Workflows is a combine.WorkflowService serving TinyWorkflow; the
// schema of every document type requires a string "title".
type Workflows struct{ wf *combine.Workflow }

// NewWorkflows returns the tiny workflow service.
func NewWorkflows(t testing.TB) *Workflows {
	t.Helper()
	var wf combine.Workflow
	if err := json.Unmarshal([]byte(TinyWorkflow), &wf); err != nil {
		t.Fatal(err)
	}
	return &Workflows{wf: &wf}
}

// ListWorkflows implements combine.WorkflowService.
func (f *Workflows) ListWorkflows(context.Context) ([]*combine.Workflow, error) {
	return []*combine.Workflow{f.wf}, nil
}

// FindWorkflow implements combine.WorkflowService.
func (f *Workflows) FindWorkflow(_ context.Context, id string) (*combine.Workflow, error) {
	if id != f.wf.ID {
		return nil, combine.Errorf(combine.ENOTFOUND, "workflow %q not found", id)
	}
	return f.wf, nil
}

// DocumentSchema implements combine.WorkflowService.
func (f *Workflows) DocumentSchema(context.Context, string, string) (json.RawMessage, error) {
	return json.RawMessage(`{"type":"object","required":["title"]}`), nil
}

// ValidateDocument implements combine.WorkflowService.
func (f *Workflows) ValidateDocument(_ context.Context, _, _ string, content json.RawMessage) ([]combine.Problem, error) {
	var v map[string]any
	if err := json.Unmarshal(content, &v); err != nil {
		return []combine.Problem{{Code: "parse", Path: "$", Message: "not JSON"}}, nil
	}
	if _, ok := v["title"].(string); !ok {
		return []combine.Problem{{Code: "required", Path: "$.title", Message: "title is required"}}, nil
	}
	return nil, nil
}

// StepPrompts implements combine.WorkflowService.
func (f *Workflows) StepPrompts(context.Context, string, string) (*combine.StepPrompts, error) {
	return &combine.StepPrompts{}, nil
}

// ClarificationSchema implements combine.WorkflowService.
func (f *Workflows) ClarificationSchema() json.RawMessage { return json.RawMessage(`{}`) }

// ValidateClarification implements combine.WorkflowService.
func (f *Workflows) ValidateClarification(json.RawMessage) []combine.Problem { return nil }
