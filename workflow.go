package combine

import (
	"context"
	"encoding/json"
)

// WorkflowSchemaVersion is the only definition format understood.
const WorkflowSchemaVersion = "workflow.v1"

// Workflow is a validated workflow.v1 definition: governed like code,
// versioned by Revision, never edited in place.
type Workflow struct {
	SchemaVersion string                     `json:"schema_version"`
	ID            string                     `json:"workflow_id"`
	Revision      string                     `json:"revision"`
	EffectiveDate string                     `json:"effective_date"`
	Name          string                     `json:"name"`
	Description   string                     `json:"description,omitempty"`
	Scopes        map[string]ScopeDef        `json:"scopes"`
	DocumentTypes map[string]DocumentTypeDef `json:"document_types"`
	EntityTypes   map[string]EntityTypeDef   `json:"entity_types,omitempty"`
	Steps         []StepDef                  `json:"steps"`
}

// ScopeDef is a node of the scope tree (project → epic → story).
type ScopeDef struct {
	// Parent is the parent scope's name; nil for the root.
	Parent *string `json:"parent"`
}

// DocumentTypeDef describes a kind of document a workflow produces.
type DocumentTypeDef struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Scope       string `json:"scope"`
	// MayOwn lists the entity types the document contains.
	MayOwn []string `json:"may_own,omitempty"`
	// CollectionField is the JSON field holding the owned entities.
	CollectionField    string   `json:"collection_field,omitempty"`
	AcceptanceRequired bool     `json:"acceptance_required,omitempty"`
	AcceptedBy         []string `json:"accepted_by,omitempty"`
	// Schema names the JSON schema documents of this type must match.
	Schema string `json:"schema,omitempty"`
}

// EntityTypeDef describes an item inside a document (an epic in the epic
// backlog) that may open a scope of its own.
type EntityTypeDef struct {
	Name          string `json:"name"`
	Description   string `json:"description,omitempty"`
	ParentDocType string `json:"parent_doc_type"`
	CreatesScope  string `json:"creates_scope,omitempty"`
}

// StepDef is a production step (Produces set) or an iteration step
// (IterateOver set, with nested Steps).
type StepDef struct {
	ID          string       `json:"step_id"`
	Description string       `json:"description,omitempty"`
	Role        string       `json:"role,omitempty"`
	TaskPrompt  string       `json:"task_prompt,omitempty"`
	Produces    string       `json:"produces,omitempty"`
	Scope       string       `json:"scope"`
	Inputs      []InputRef   `json:"inputs,omitempty"`
	Iterate     *IterateOver `json:"iterate_over,omitempty"`
	Steps       []StepDef    `json:"steps,omitempty"`
}

// IsIteration reports whether the step iterates over a collection.
func (s *StepDef) IsIteration() bool { return s.Iterate != nil }

// IterateOver names the collection an iteration step expands over.
type IterateOver struct {
	DocType         string `json:"doc_type"`
	CollectionField string `json:"collection_field"`
	EntityType      string `json:"entity_type"`
}

// InputRef is an input a step reads: a document or an entity in a scope.
type InputRef struct {
	DocType    string `json:"doc_type,omitempty"`
	EntityType string `json:"entity_type,omitempty"`
	Scope      string `json:"scope"`
	// Required defaults to true.
	Required *bool `json:"required,omitempty"`
	// Context marks "the item this iteration is on".
	Context bool `json:"context,omitempty"`
}

// IsRequired reports the input's required flag with its default.
func (in InputRef) IsRequired() bool { return in.Required == nil || *in.Required }

// FindStep returns the step with id anywhere in the step tree, with the
// chain of iteration steps that enclose it (outermost first), or nil.
func (w *Workflow) FindStep(id string) (step *StepDef, parents []*StepDef) {
	var walk func(steps []StepDef, chain []*StepDef) bool
	walk = func(steps []StepDef, chain []*StepDef) bool {
		for i := range steps {
			s := &steps[i]
			if s.ID == id {
				step, parents = s, chain
				return true
			}
			if s.IsIteration() && walk(s.Steps, append(chain[:len(chain):len(chain)], s)) {
				return true
			}
		}
		return false
	}
	walk(w.Steps, nil)
	return step, parents
}

// Problem is one thing wrong with a definition or a document: a stable
// code, the JSON path of the offending value (e.g. "$.steps[3].scope")
// and a human-readable message.
type Problem struct {
	Code    string `json:"code"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// PromptRef identifies one prompt file of a prompt set: what a run records
// to say exactly which text it sent.
type PromptRef struct {
	// Kind is "role" or "task".
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// SHA256 is the lowercase hex SHA-256 of the file's bytes.
	SHA256 string `json:"sha256"`
}

// ResolvedPrompt is a prompt's reference and its verified text.
type ResolvedPrompt struct {
	PromptRef
	Text string `json:"-"`
}

// StepPrompts are the role and task prompts a production step sends.
type StepPrompts struct {
	Role ResolvedPrompt
	Task ResolvedPrompt
}

// WorkflowService reads the loaded workflow definitions.
type WorkflowService interface {
	ListWorkflows(ctx context.Context) ([]*Workflow, error)
	// FindWorkflow returns ENOTFOUND for an unknown id.
	FindWorkflow(ctx context.Context, id string) (*Workflow, error)
	// DocumentSchema returns the JSON schema for a document type of a
	// workflow, or nil when the type has none.
	DocumentSchema(ctx context.Context, workflowID, docType string) (json.RawMessage, error)
	// ValidateDocument checks content against the document type's schema
	// and returns every problem (none when valid or when the type has no
	// schema). An unknown workflow or document type is ENOTFOUND.
	ValidateDocument(ctx context.Context, workflowID, docType string, content json.RawMessage) ([]Problem, error)
	// StepPrompts returns the verified role and task prompts of a
	// production step. An unknown workflow or step is ENOTFOUND; an
	// iteration step is EINVALID.
	StepPrompts(ctx context.Context, workflowID, stepID string) (*StepPrompts, error)
	// ClarificationSchema returns the JSON schema of a clarification
	// question set.
	ClarificationSchema() json.RawMessage
	// ValidateClarification checks a clarification question set (at most
	// five questions) and returns every problem.
	ValidateClarification(content json.RawMessage) []Problem
}
