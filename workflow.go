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
	// Worker is who does the steps that name none: WorkerPerson or
	// WorkerLLM; empty means an LLM when a provider is configured, else a
	// person.
	Worker string `json:"worker,omitempty"`
	// LLM configures the workflow's LLM steps (models, budget).
	LLM   *WorkflowLLM `json:"llm,omitempty"`
	Steps []StepDef    `json:"steps"`
}

// Step workers: who does a production step.
const (
	WorkerPerson = "person"
	WorkerLLM    = "llm"
)

// WorkflowLLM is a workflow's LLM settings.
type WorkflowLLM struct {
	// Model is the workflow's default model (else LLM_MODEL).
	Model string `json:"model,omitempty"`
	// RoleModels picks a model per role, over Model.
	RoleModels map[string]string `json:"role_models,omitempty"`
	// BudgetUSD caps the LLM cost of one execution of the workflow (0: no
	// cap of its own; LLM_BUDGET_USD_PER_EXECUTION still applies).
	BudgetUSD float64 `json:"budget_usd,omitempty"`
}

// StepWorker returns who does production step s: the step's worker, else
// the workflow's, else an LLM when one is configured (llmConfigured).
func (w *Workflow) StepWorker(s *StepDef, llmConfigured bool) string {
	switch {
	case s.Worker != "":
		return s.Worker
	case w.Worker != "":
		return w.Worker
	case llmConfigured:
		return WorkerLLM
	}
	return WorkerPerson
}

// StepModel returns the model the definition names for production step
// s: the step's model, else its role's, else the workflow's; "" when the
// definition names none.
func (w *Workflow) StepModel(s *StepDef) string {
	if s.Model != "" {
		return s.Model
	}
	if w.LLM == nil {
		return ""
	}
	if m := w.LLM.RoleModels[s.Role]; m != "" {
		return m
	}
	return w.LLM.Model
}

// BudgetUSD is the workflow's own cap on one execution's LLM cost (0: none).
func (w *Workflow) BudgetUSD() float64 {
	if w.LLM == nil {
		return 0
	}
	return w.LLM.BudgetUSD
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
	ID          string     `json:"step_id"`
	Description string     `json:"description,omitempty"`
	Role        string     `json:"role,omitempty"`
	TaskPrompt  string     `json:"task_prompt,omitempty"`
	Produces    string     `json:"produces,omitempty"`
	Scope       string     `json:"scope"`
	Inputs      []InputRef `json:"inputs,omitempty"`
	// Worker is WorkerPerson or WorkerLLM (production steps; empty: the
	// workflow's default).
	Worker string `json:"worker,omitempty"`
	// Model is the LLM model for this step (production steps).
	Model   string       `json:"model,omitempty"`
	Iterate *IterateOver `json:"iterate_over,omitempty"`
	Steps   []StepDef    `json:"steps,omitempty"`
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
