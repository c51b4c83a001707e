package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/thecombine/combine"
)

// Registry holds the loaded definitions. It is built by Load and never
// changes afterwards, so it is safe for concurrent use.
type Registry struct {
	order         []string
	entries       map[string]*entry
	clarification *schema
	warnings      []string
}

// Warnings lists what the load left out and why (for the log at start).
func (r *Registry) Warnings() []string { return slices.Clone(r.warnings) }

var _ combine.WorkflowService = (*Registry)(nil)

// collection is the field of a document type holding owned entities and
// the entity type of its items.
type collection struct {
	field      string
	entityType string
}

// entry is one loaded definition with everything resolved for it.
type entry struct {
	raw         []byte // canonical JSON of the definition
	file        string
	docSchemas  map[string]*schema
	collections map[string]collection // doc type → its collection
	docTypes    map[string]bool
	stepPrompts map[string]*combine.StepPrompts
}

func newEntry(wf *combine.Workflow, file string, src *source) (*entry, error) {
	raw, err := json.Marshal(wf)
	if err != nil {
		return nil, fmt.Errorf("encode definition: %w", err)
	}
	e := &entry{raw: raw, file: file, docSchemas: map[string]*schema{}, collections: map[string]collection{}, docTypes: map[string]bool{}, stepPrompts: map[string]*combine.StepPrompts{}}
	for id, dt := range wf.DocumentTypes {
		e.docTypes[id] = true
		if dt.CollectionField != "" {
			e.collections[id] = collection{field: dt.CollectionField, entityType: ownedEntity(wf, id, dt)}
		}
		if dt.Schema != "" {
			e.docSchemas[id], _ = src.schemas.get(dt.Schema)
		}
	}
	var walk func(steps []combine.StepDef)
	walk = func(steps []combine.StepDef) {
		for _, s := range steps {
			if s.IsIteration() {
				walk(s.Steps)
				continue
			}
			role, _ := src.prompts.role(s.Role)
			task, _ := src.prompts.task(s.TaskPrompt)
			e.stepPrompts[s.ID] = &combine.StepPrompts{Role: role, Task: task}
		}
	}
	walk(wf.Steps)
	return e, nil
}

// workflow returns a fresh copy, so callers can never alter the registry.
func (e *entry) workflow() (*combine.Workflow, error) {
	var wf combine.Workflow
	if err := json.Unmarshal(e.raw, &wf); err != nil {
		return nil, fmt.Errorf("decode definition from %s: %w", e.file, err)
	}
	return &wf, nil
}

func (r *Registry) find(id string) (*entry, error) {
	e, ok := r.entries[id]
	if !ok {
		return nil, combine.Errorf(combine.ENOTFOUND, "workflow %q not found", id)
	}
	return e, nil
}

// ListWorkflows returns every definition, in load order (built-ins first,
// then WORKFLOWS_DIR by file name).
func (r *Registry) ListWorkflows(ctx context.Context) ([]*combine.Workflow, error) {
	out := make([]*combine.Workflow, 0, len(r.order))
	for _, id := range r.order {
		wf, err := r.entries[id].workflow()
		if err != nil {
			return nil, err
		}
		out = append(out, wf)
	}
	return out, nil
}

// FindWorkflow returns the definition with id, or ENOTFOUND.
func (r *Registry) FindWorkflow(ctx context.Context, id string) (*combine.Workflow, error) {
	e, err := r.find(id)
	if err != nil {
		return nil, err
	}
	return e.workflow()
}

// SourceFile names the file the definition was loaded from.
func (r *Registry) SourceFile(id string) (string, error) {
	e, err := r.find(id)
	if err != nil {
		return "", err
	}
	return e.file, nil
}

func (r *Registry) docType(workflowID, docType string) (*entry, error) {
	e, err := r.find(workflowID)
	if err != nil {
		return nil, err
	}
	if !e.docTypes[docType] {
		return nil, combine.Errorf(combine.ENOTFOUND, "workflow %q has no document type %q", workflowID, docType)
	}
	return e, nil
}

// DocumentSchema returns the JSON schema of a document type, or nil when
// the type declares none.
func (r *Registry) DocumentSchema(ctx context.Context, workflowID, docType string) (json.RawMessage, error) {
	e, err := r.docType(workflowID, docType)
	if err != nil || e.docSchemas[docType] == nil {
		return nil, err
	}
	return slices.Clone(e.docSchemas[docType].raw), nil
}

// ValidateDocument checks content against its type's schema: it must be a
// JSON object and match. The items of a type's collection_field (epics,
// stories) must carry unique string ids, since each becomes a scope.
// Every problem carries the JSON path of the offending value.
func (r *Registry) ValidateDocument(ctx context.Context, workflowID, docType string, content json.RawMessage) ([]combine.Problem, error) {
	e, err := r.docType(workflowID, docType)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(content, &obj); err != nil {
		return []combine.Problem{{Code: CodeDocumentJSON, Path: "$", Message: "a document must be a JSON object: " + err.Error()}}, nil
	}
	var ps []combine.Problem
	if s := e.docSchemas[docType]; s != nil {
		ps = s.validateJSON(content, documentCodes)
	}
	if c, ok := e.collections[docType]; ok {
		flagged := map[string]bool{}
		for _, p := range ps {
			flagged[p.Path] = true
		}
		for _, p := range collectionProblems(content, c) {
			if !flagged[p.Path] {
				ps = append(ps, p)
			}
		}
	}
	return ps, nil
}

// ownedEntity names the entity type of a document type's collection: the
// one whose parent_doc_type it is (the first of may_own when several).
func ownedEntity(wf *combine.Workflow, docType string, dt combine.DocumentTypeDef) string {
	for _, name := range dt.MayOwn {
		if wf.EntityTypes[name].ParentDocType == docType {
			return name
		}
	}
	for _, name := range sortedKeys(wf.EntityTypes) {
		if wf.EntityTypes[name].ParentDocType == docType {
			return name
		}
	}
	return ""
}

// collectionProblems checks that every item of the collection is an
// object with a unique id (as "id" or "<entity type>_id") that can become
// part of a scope id.
func collectionProblems(content json.RawMessage, c collection) []combine.Problem {
	base := field("$", c.field)
	items, err := combine.CollectionItems(content, c.field)
	if err != nil || items == nil {
		return []combine.Problem{{Code: CodeDocumentSchema, Path: base, Message: fmt.Sprintf("%q must be an array of items", c.field)}}
	}
	var ps []combine.Problem
	seen := map[string]string{}
	for i, raw := range items {
		p := index(base, i)
		key := combine.ItemIDKey(raw, c.entityType)
		id, err := combine.ItemID(raw, c.entityType)
		if err != nil {
			ps = append(ps, combine.Problem{Code: CodeDocumentSchema, Path: p + "." + key, Message: err.Error()})
			continue
		}
		if first, dup := seen[id]; dup {
			ps = append(ps, combine.Problem{Code: CodeDocumentSchema, Path: p + "." + key, Message: fmt.Sprintf("id %q is already used by %s", id, first)})
			continue
		}
		seen[id] = p
	}
	return ps
}

// StepPrompts returns the verified prompts of a production step.
func (r *Registry) StepPrompts(ctx context.Context, workflowID, stepID string) (*combine.StepPrompts, error) {
	e, err := r.find(workflowID)
	if err != nil {
		return nil, err
	}
	sp, ok := e.stepPrompts[stepID]
	if !ok {
		if wf, err := e.workflow(); err != nil {
			return nil, err
		} else if s, _ := wf.FindStep(stepID); s != nil {
			return nil, combine.Errorf(combine.EINVALID, "step %q of workflow %q is an iteration step; it has no prompts", stepID, workflowID)
		}
		return nil, combine.Errorf(combine.ENOTFOUND, "workflow %q has no step %q", workflowID, stepID)
	}
	cp := *sp
	return &cp, nil
}

// ClarificationSchema returns the JSON schema of a clarification question set.
func (r *Registry) ClarificationSchema() json.RawMessage { return slices.Clone(r.clarification.raw) }

// ValidateClarification checks a clarification question set: the schema
// (one to five questions, each with id, text ending in "?",
// why_it_matters, priority and blocking) and unique question ids.
func (r *Registry) ValidateClarification(content json.RawMessage) []combine.Problem {
	ps := r.clarification.validateJSON(content, documentCodes)
	if len(ps) > 0 {
		return ps
	}
	var set struct {
		Questions []struct {
			ID string `json:"id"`
		} `json:"questions"`
	}
	_ = json.Unmarshal(content, &set)
	seen := map[string]bool{}
	for i, q := range set.Questions {
		if seen[q.ID] {
			ps = append(ps, combine.Problem{Code: CodeDocumentSchema, Path: index("$.questions", i) + ".id", Message: fmt.Sprintf("question id %q is used twice", q.ID)})
		}
		seen[q.ID] = true
	}
	return ps
}
