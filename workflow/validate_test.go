package workflow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/thecombine/combine"
)

// baseDefinition is a small valid definition using the built-in prompt set
// and schemas; each test case breaks it in one way.
const baseDefinition = `{
  "schema_version": "workflow.v1",
  "workflow_id": "tiny",
  "revision": "1",
  "effective_date": "2026-01-31",
  "name": "Tiny",
  "scopes": {"project": {"parent": null}, "epic": {"parent": "project"}, "story": {"parent": "epic"}},
  "document_types": {
    "brief": {"name": "Brief", "scope": "project", "schema": "project_discovery.v1"},
    "backlog": {"name": "Backlog", "scope": "project", "may_own": ["epic"], "collection_field": "epics",
      "acceptance_required": true, "accepted_by": ["pm", "admin"]},
    "epic_doc": {"name": "Epic doc", "scope": "epic"},
    "stories": {"name": "Stories", "scope": "epic", "may_own": ["story"], "collection_field": "stories"},
    "notes": {"name": "Notes", "scope": "story"}
  },
  "entity_types": {
    "epic": {"name": "Epic", "parent_doc_type": "backlog", "creates_scope": "epic"},
    "story": {"name": "Story", "parent_doc_type": "stories", "creates_scope": "story"}
  },
  "steps": [
    {"step_id": "s1", "role": "business_analyst", "task_prompt": "project_discovery.v1", "produces": "brief", "scope": "project"},
    {"step_id": "s2", "role": "product_manager", "task_prompt": "epic_backlog.v1", "produces": "backlog", "scope": "project",
      "inputs": [{"doc_type": "brief", "scope": "project"}]},
    {"step_id": "each_epic", "scope": "epic", "iterate_over": {"doc_type": "backlog", "collection_field": "epics", "entity_type": "epic"},
      "steps": [
        {"step_id": "s3", "role": "technical_architect", "task_prompt": "epic_architecture.v1", "produces": "epic_doc", "scope": "epic",
          "inputs": [{"entity_type": "epic", "scope": "epic", "context": true}, {"doc_type": "brief", "scope": "project"}]},
        {"step_id": "s4", "role": "business_analyst", "task_prompt": "story_backlog.v1", "produces": "stories", "scope": "epic",
          "inputs": [{"doc_type": "epic_doc", "scope": "epic"}]},
        {"step_id": "each_story", "scope": "story", "iterate_over": {"doc_type": "stories", "collection_field": "stories", "entity_type": "story"},
          "steps": [
            {"step_id": "s5", "role": "developer", "task_prompt": "implementation_notes.v1", "produces": "notes", "scope": "story",
              "inputs": [{"entity_type": "story", "scope": "story", "context": true}, {"entity_type": "epic", "scope": "epic"},
                {"doc_type": "epic_doc", "scope": "epic"}]}
          ]}
      ]}
  ]
}`

// testResources are the built-in prompt and schema sets.
func testResources(t *testing.T) (*schema, resources) {
	t.Helper()
	meta, err := loadMetaSchemas()
	if err != nil {
		t.Fatal(err)
	}
	ps, perrs := loadPromptSet(builtinFS, "prompts", "prompts/")
	ss, serrs := loadSchemaSet(builtinFS, "schemas", "schemas/")
	if len(perrs)+len(serrs) > 0 {
		t.Fatalf("built-in sets: %v %v", perrs, serrs)
	}
	return meta.workflow, resources{prompts: ps, schemas: ss}
}

// at walks a decoded JSON value by keys and indexes.
func at(v any, path ...any) any {
	for _, k := range path {
		switch k := k.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

func obj(v any, path ...any) map[string]any { return at(v, path...).(map[string]any) }

func mutated(t *testing.T, fn func(d map[string]any)) []byte {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(baseDefinition), &d); err != nil {
		t.Fatal(err)
	}
	fn(d)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBaseDefinitionIsValid(t *testing.T) {
	t.Parallel()
	meta, res := testResources(t)
	wf, ps := parseDefinition([]byte(baseDefinition), meta, res)
	if len(ps) > 0 || wf == nil {
		t.Fatalf("problems: %+v", ps)
	}
}

func TestValidatorRefusesEachErrorClass(t *testing.T) {
	t.Parallel()
	meta, res := testResources(t)
	epicSteps := func(d map[string]any) []any { return at(d, "steps", 2, "steps").([]any) }
	cases := []struct {
		name, code, path string
		raw              string // used instead of a mutation when set
		mutate           func(d map[string]any)
	}{
		{"not JSON", CodeInvalidJSON, "$", `{"schema_version":`, nil},
		{"duplicate member", CodeDuplicateKey, "$.steps[0].produces", strings.Replace(baseDefinition, `"produces": "brief",`, `"produces": "brief", "produces": "notes",`, 1), nil},
		{"missing name", CodeMissingField, "$.name", "", func(d map[string]any) { delete(d, "name") }},
		{"production step without role", CodeMissingField, "$.steps[0].role", "", func(d map[string]any) { delete(obj(d, "steps", 0), "role") }},
		{"unknown top-level field", CodeUnknownField, "$.colour", "", func(d map[string]any) { d["colour"] = "red" }},
		{"unknown input field", CodeUnknownField, "$.steps[1].inputs[0].optional", "", func(d map[string]any) { obj(d, "steps", 1, "inputs", 0)["optional"] = true }},
		{"role is not a string", CodeInvalidType, "$.document_types.backlog.accepted_by[0]", "", func(d map[string]any) { obj(d, "document_types", "backlog")["accepted_by"] = []any{7} }},
		{"step role is not a string", CodeInvalidType, "$.steps[0].role", "", func(d map[string]any) { obj(d, "steps", 0)["role"] = []any{"pm"} }},
		{"no steps", CodeInvalidValue, "$.steps", "", func(d map[string]any) { d["steps"] = []any{} }},
		{"bad schema_version", CodeUnsupportedVersion, "$.schema_version", "", func(d map[string]any) { d["schema_version"] = "workflow.v2" }},
		{"workflow id not snake_case", CodeInvalidID, "$.workflow_id", "", func(d map[string]any) { d["workflow_id"] = "Tiny-Flow" }},
		{"step id not snake_case", CodeInvalidID, "$.steps[0].step_id", "", func(d map[string]any) { obj(d, "steps", 0)["step_id"] = "Step1" }},
		{"scope name not snake_case", CodeInvalidID, "$.scopes.Release", "", func(d map[string]any) { obj(d, "scopes")["Release"] = map[string]any{"parent": "project"} }},
		{"bad date", CodeInvalidDate, "$.effective_date", "", func(d map[string]any) { d["effective_date"] = "2026-02-30" }},
		{"unknown produced document type", CodeUnknownDocumentType, "$.steps[0].produces", "", func(d map[string]any) { obj(d, "steps", 0)["produces"] = "memo" }},
		{"unknown input document type", CodeUnknownDocumentType, "$.steps[1].inputs[0].doc_type", "", func(d map[string]any) { obj(d, "steps", 1, "inputs", 0)["doc_type"] = "memo" }},
		{"unknown owned entity type", CodeUnknownEntityType, "$.document_types.backlog.may_own[1]", "", func(d map[string]any) {
			obj(d, "document_types", "backlog")["may_own"] = []any{"epic", "ghost"}
		}},
		{"unknown iterated entity type", CodeUnknownEntityType, "$.steps[2].iterate_over.entity_type", "", func(d map[string]any) { obj(d, "steps", 2, "iterate_over")["entity_type"] = "ghost" }},
		{"unknown input scope", CodeUnknownScope, "$.steps[1].inputs[0].scope", "", func(d map[string]any) { obj(d, "steps", 1, "inputs", 0)["scope"] = "galaxy" }},
		{"unknown document scope", CodeUnknownScope, "$.document_types.notes.scope", "", func(d map[string]any) { obj(d, "document_types", "notes")["scope"] = "galaxy" }},
		{"unknown parent scope", CodeUnknownScope, "$.scopes.story.parent", "", func(d map[string]any) { obj(d, "scopes", "story")["parent"] = "galaxy" }},
		{"unknown schema", CodeUnknownSchema, "$.document_types.brief.schema", "", func(d map[string]any) { obj(d, "document_types", "brief")["schema"] = "brief.v9" }},
		{"schema lacks the collection", CodeInvalidSchema, "$.document_types.backlog.schema", "", func(d map[string]any) { obj(d, "document_types", "backlog")["schema"] = "project_discovery.v1" }},
		{"two root scopes", CodeScopeTree, "$.scopes", "", func(d map[string]any) { obj(d, "scopes")["other"] = map[string]any{"parent": nil} }},
		{"scope cycle", CodeScopeTree, "$.scopes.epic.parent", "", func(d map[string]any) { obj(d, "scopes", "epic")["parent"] = "story" }},
		{"ownership cycle", CodeOwnershipCycle, "$.document_types.epic_doc.may_own[0]", "", func(d map[string]any) {
			obj(d, "document_types", "epic_doc")["may_own"] = []any{"part"}
			obj(d, "document_types", "epic_doc")["collection_field"] = "parts"
			obj(d, "entity_types")["part"] = map[string]any{"name": "Part", "parent_doc_type": "epic_doc", "creates_scope": "epic"}
		}},
		{"entity not owned by its parent", CodeInvalidOwnership, "$.entity_types.epic.parent_doc_type", "", func(d map[string]any) { obj(d, "entity_types", "epic")["parent_doc_type"] = "brief" }},
		{"may_own without collection_field", CodeInvalidOwnership, "$.document_types.backlog.collection_field", "", func(d map[string]any) { delete(obj(d, "document_types", "backlog"), "collection_field") }},
		{"produced type lives in another scope", CodeScopeMismatch, "$.steps[0].produces", "", func(d map[string]any) {
			obj(d, "document_types", "brief")["scope"] = "epic"
		}},
		{"top-level step in a child scope", CodeScopeMismatch, "$.steps[1].scope", "", func(d map[string]any) { obj(d, "steps", 1)["scope"] = "epic" }},
		{"input scope differs from the type's", CodeScopeMismatch, "$.steps[2].steps[0].inputs[1].scope", "", func(d map[string]any) {
			obj(d, "steps", 2, "steps", 0, "inputs", 1)["scope"] = "epic"
		}},
		{"entity creates a scope outside its parent's", CodeScopeMismatch, "$.entity_types.story.creates_scope", "", func(d map[string]any) {
			obj(d, "entity_types", "story")["creates_scope"] = "epic"
		}},
		{"iteration field not the collection", CodeBadIterationSource, "$.steps[2].iterate_over.collection_field", "", func(d map[string]any) { obj(d, "steps", 2, "iterate_over")["collection_field"] = "items" }},
		{"iteration source does not own the entity", CodeBadIterationSource, "$.steps[2].iterate_over.entity_type", "", func(d map[string]any) { obj(d, "steps", 2, "iterate_over")["entity_type"] = "story" }},
		{"iteration entity creates another scope", CodeBadIterationSource, "$.steps[2].steps[2].scope", "", func(d map[string]any) {
			obj(d, "scopes")["task"] = map[string]any{"parent": "epic"}
			is := obj(d, "steps", 2, "steps", 2)
			is["scope"] = "task"
			obj(is, "steps", 0)["scope"] = "task"
		}},
		{"iteration source not produced yet", CodeBadIterationSource, "$.steps[0].iterate_over.doc_type", "", func(d map[string]any) {
			steps := d["steps"].([]any)
			d["steps"] = append([]any{steps[2]}, steps[0], steps[1])
		}},
		{"iteration step with a role", CodeInvalidStep, "$.steps[2].role", "", func(d map[string]any) { obj(d, "steps", 2)["role"] = "developer" }},
		{"production step with nested steps", CodeInvalidStep, "$.steps[0].steps", "", func(d map[string]any) { obj(d, "steps", 0)["steps"] = epicSteps(d) }},
		{"iteration step with a worker", CodeInvalidStep, "$.steps[2].worker", "", func(d map[string]any) { obj(d, "steps", 2)["worker"] = "llm" }},
		{"iteration step with a model", CodeInvalidStep, "$.steps[2].model", "", func(d map[string]any) { obj(d, "steps", 2)["model"] = "m" }},
		{"step worker neither person nor llm", CodeInvalidValue, "$.steps[0].worker", "", func(d map[string]any) { obj(d, "steps", 0)["worker"] = "robot" }},
		{"workflow worker neither person nor llm", CodeInvalidValue, "$.worker", "", func(d map[string]any) { d["worker"] = "anyone" }},
		{"empty step model", CodeInvalidValue, "$.steps[0].model", "", func(d map[string]any) { obj(d, "steps", 0)["model"] = "" }},
		{"zero budget", CodeInvalidValue, "$.llm.budget_usd", "", func(d map[string]any) { d["llm"] = map[string]any{"budget_usd": 0} }},
		{"unknown llm setting", CodeUnknownField, "$.llm.temperature", "", func(d map[string]any) { d["llm"] = map[string]any{"temperature": 0.2} }},
		{"model for a role no step plays", CodeUnknownRole, "$.llm.role_models.qa", "", func(d map[string]any) {
			d["llm"] = map[string]any{"role_models": map[string]any{"developer": "m1", "qa": "m2"}}
		}},
		{"input names doc and entity", CodeInvalidInput, "$.steps[1].inputs[0]", "", func(d map[string]any) { obj(d, "steps", 1, "inputs", 0)["entity_type"] = "epic" }},
		{"reads a descendant scope", CodeInputScope, "$.steps[1].inputs[0].scope", "", func(d map[string]any) {
			obj(d, "steps", 1, "inputs", 0)["doc_type"] = "epic_doc"
			obj(d, "steps", 1, "inputs", 0)["scope"] = "epic"
		}},
		{"reads a sibling scope", CodeInputScope, "$.steps[2].steps[0].inputs[1].scope", "", func(d map[string]any) {
			obj(d, "scopes")["release"] = map[string]any{"parent": "project"}
			obj(d, "document_types")["plan"] = map[string]any{"name": "Plan", "scope": "release"}
			in := obj(d, "steps", 2, "steps", 0, "inputs", 1)
			in["doc_type"], in["scope"], in["required"] = "plan", "release", false
		}},
		{"reads an entity of no enclosing iteration", CodeInputScope, "$.steps[2].steps[0].inputs[1].scope", "", func(d map[string]any) {
			in := obj(d, "steps", 2, "steps", 0, "inputs", 1)
			delete(in, "doc_type")
			in["entity_type"], in["scope"] = "story", "story"
		}},
		{"reads an entity of another iteration", CodeInputScope, "$.steps[2].steps[0].inputs[1].entity_type", "", func(d map[string]any) {
			obj(d, "document_types", "backlog")["may_own"] = []any{"epic", "theme"}
			obj(d, "entity_types")["theme"] = map[string]any{"name": "Theme", "parent_doc_type": "backlog", "creates_scope": "epic"}
			in := obj(d, "steps", 2, "steps", 0, "inputs", 1)
			delete(in, "doc_type")
			in["entity_type"], in["scope"] = "theme", "epic"
		}},
		{"context on an outer iteration's entity", CodeInvalidContext, "$.steps[2].steps[2].steps[0].inputs[1].context", "", func(d map[string]any) {
			obj(d, "steps", 2, "steps", 2, "steps", 0, "inputs", 1)["context"] = true
		}},
		{"context on a document", CodeInvalidContext, "$.steps[1].inputs[0].context", "", func(d map[string]any) { obj(d, "steps", 1, "inputs", 0)["context"] = true }},
		{"context outside any iteration", CodeInvalidContext, "$.steps[1].inputs[1].context", "", func(d map[string]any) {
			o := obj(d, "steps", 1)
			o["inputs"] = append(o["inputs"].([]any), map[string]any{"entity_type": "epic", "scope": "project", "context": true})
		}},
		{"reads a document produced later", CodeInputNotAvailable, "$.steps[0].inputs[0].doc_type", "", func(d map[string]any) {
			obj(d, "steps", 0)["inputs"] = []any{map[string]any{"doc_type": "backlog", "scope": "project"}}
		}},
		{"duplicate step id", CodeDuplicateStepID, "$.steps[2].steps[1].step_id", "", func(d map[string]any) { obj(d, "steps", 2, "steps", 1)["step_id"] = "s1" }},
		{"document produced twice", CodeDuplicateProducer, "$.steps[1].produces", "", func(d map[string]any) {
			obj(d, "steps", 1)["produces"] = "brief"
			obj(d, "steps", 1)["inputs"] = []any{}
		}},
		{"accepted_by names a non-reviewer role", CodeInvalidAcceptedBy, "$.document_types.backlog.accepted_by[1]", "", func(d map[string]any) { obj(d, "document_types", "backlog")["accepted_by"] = []any{"pm", "operator"} }},
		{"acceptance without roles", CodeInvalidAcceptedBy, "$.document_types.backlog.accepted_by", "", func(d map[string]any) { obj(d, "document_types", "backlog")["accepted_by"] = []any{} }},
		{"missing role prompt", CodeMissingRolePrompt, "$.steps[0].role", "", func(d map[string]any) { obj(d, "steps", 0)["role"] = "astronaut" }},
		{"missing task prompt", CodeMissingTaskPrompt, "$.steps[0].task_prompt", "", func(d map[string]any) { obj(d, "steps", 0)["task_prompt"] = "project_discovery.v7" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := []byte(tc.raw)
			if tc.mutate != nil {
				raw = mutated(t, tc.mutate)
			}
			wf, ps := parseDefinition(raw, meta, res)
			if wf != nil {
				t.Fatal("definition accepted")
			}
			if !slices.ContainsFunc(ps, func(p combine.Problem) bool { return p.Code == tc.code && p.Path == tc.path }) {
				t.Fatalf("want %s at %s; got:\n%s", tc.code, tc.path, render(ps))
			}
		})
	}
}

func render(ps []combine.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %s %s: %s\n", p.Code, p.Path, p.Message)
	}
	return b.String()
}

// TestValidatorReportsEveryProblem breaks a definition in several
// independent ways and expects one problem for each.
func TestValidatorReportsEveryProblem(t *testing.T) {
	t.Parallel()
	meta, res := testResources(t)
	raw := mutated(t, func(d map[string]any) {
		d["effective_date"] = "yesterday"
		obj(d, "steps", 0)["role"] = "astronaut"
		obj(d, "steps", 2, "steps", 1)["step_id"] = "s1"
		obj(d, "document_types", "backlog")["accepted_by"] = []any{"ceo"}
	})
	_, ps := parseDefinition(raw, meta, res)
	want := []string{CodeInvalidDate, CodeMissingRolePrompt, CodeDuplicateStepID, CodeInvalidAcceptedBy}
	for _, code := range want {
		if !slices.ContainsFunc(ps, func(p combine.Problem) bool { return p.Code == code }) {
			t.Errorf("missing %s in:\n%s", code, render(ps))
		}
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(ps), len(want), render(ps))
	}
	// Structural problems are all reported too.
	raw = mutated(t, func(d map[string]any) {
		delete(d, "name")
		d["colour"] = 1
		obj(d, "steps", 0)["scope"] = 3
	})
	_, ps = parseDefinition(raw, meta, res)
	if len(ps) != 3 {
		t.Errorf("got %d structural problems, want 3:\n%s", len(ps), render(ps))
	}
}
