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
	Name  string `json:"name"`
	Scope string `json:"scope"`
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
	ParentDocType string `json:"parent_doc_type"`
	CreatesScope  string `json:"creates_scope,omitempty"`
}

// StepDef is a production step (Produces set) or an iteration step
// (IterateOver set, with nested Steps).
type StepDef struct {
	ID         string       `json:"step_id"`
	Role       string       `json:"role,omitempty"`
	TaskPrompt string       `json:"task_prompt,omitempty"`
	Produces   string       `json:"produces,omitempty"`
	Scope      string       `json:"scope"`
	Inputs     []InputRef   `json:"inputs,omitempty"`
	Iterate    *IterateOver `json:"iterate_over,omitempty"`
	Steps      []StepDef    `json:"steps,omitempty"`
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

// WorkflowService reads the loaded workflow definitions.
type WorkflowService interface {
	ListWorkflows(ctx context.Context) ([]*Workflow, error)
	// FindWorkflow returns ENOTFOUND for an unknown id.
	FindWorkflow(ctx context.Context, id string) (*Workflow, error)
	// DocumentSchema returns the JSON schema for a document type of a
	// workflow, or nil when the type has none.
	DocumentSchema(ctx context.Context, workflowID, docType string) (json.RawMessage, error)
}
