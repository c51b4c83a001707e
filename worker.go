package combine

import (
	"context"
	"encoding/json"
)

// Worker does the work of a production step: it writes the step's
// document, asks clarification questions, or hands the step to a person.
// The engine calls Work outside any transaction with a context that is
// cancelled when the execution is cancelled; the engine, not the worker,
// applies QA, acceptance and every state change.
type Worker interface {
	// Name identifies the worker in documents' created_by and attempts.
	Name() string
	Work(ctx context.Context, task *Task) (*WorkResult, error)
}

// Task is everything a worker gets for one attempt of a step.
type Task struct {
	ExecutionID      string          `json:"execution_id"`
	WorkflowID       string          `json:"workflow_id"`
	WorkflowRevision string          `json:"workflow_revision"`
	ProjectID        string          `json:"project_id"`
	ExecutionInputs  json.RawMessage `json:"execution_inputs,omitempty"`
	Step             StepRef         `json:"step"`
	Role             string          `json:"role"`
	TaskPrompt       string          `json:"task_prompt"`
	DocumentType     string          `json:"document_type"`
	// Schema is the JSON schema the document must match (nil if none).
	Schema json.RawMessage `json:"schema,omitempty"`
	Inputs []TaskInput     `json:"inputs"`
	// ContextItem is the iteration item the step is on (nil outside iterations).
	ContextItem json.RawMessage `json:"context_item,omitempty"`
	// Questions and Answers are the clarification rounds so far.
	Questions []Question        `json:"questions,omitempty"`
	Answers   map[string]string `json:"answers,omitempty"`
	// Problems are the QA problems of the previous attempt (remediation).
	Problems []string `json:"problems,omitempty"`
	// ReviewerComment is the comment of the rejection being addressed.
	ReviewerComment string `json:"reviewer_comment,omitempty"`
	// RetryComment is what the person who retried the failed step said.
	RetryComment string `json:"retry_comment,omitempty"`
	// Prompts are the step's verified role and task prompts (texts for the
	// worker; versions and hashes are recorded on the attempt).
	Prompts StepPrompts `json:"prompts"`
	// IdempotencyKey is stable per (execution, step path, attempt): a
	// worker that pays for calls uses it to never pay twice.
	IdempotencyKey string `json:"idempotency_key"`
	// Model is the model the workflow definition names for the step (""
	// when it names none: the worker's default).
	Model string `json:"model,omitempty"`
	// BudgetUSD is the workflow's own cap on the execution's LLM cost (0:
	// none of its own).
	BudgetUSD float64 `json:"budget_usd,omitempty"`
}

// StepFailure is a worker error that fails the work item at once, with
// Reason as the step's error, instead of being retried by the runner: a
// budget that would be exceeded, a provider that kept failing beyond the
// worker's own retries. A retry of the execution gives the step a new
// attempt.
type StepFailure struct {
	Reason string
	Err    error
}

// Error implements error.
func (e *StepFailure) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

// Unwrap returns the cause.
func (e *StepFailure) Unwrap() error { return e.Err }

// TaskInput is an input of a task: a document (the latest accepted
// version produced in the execution) or, for an entity input, one item of
// a collection taken from such a document.
type TaskInput struct {
	// EntityType and ItemID are set for an entity input; Content is then
	// the item, and the document fields name the document it came from.
	EntityType   string          `json:"entity_type,omitempty"`
	ItemID       string          `json:"item_id,omitempty"`
	DocumentType string          `json:"document_type"`
	ScopeType    string          `json:"scope_type"`
	ScopeID      string          `json:"scope_id"`
	DocumentID   string          `json:"document_id"`
	Version      int             `json:"version"`
	Title        string          `json:"title"`
	Content      json.RawMessage `json:"content"`
}

// WorkResult is a worker's answer: exactly one of Document, Questions,
// AwaitPerson or Problems.
type WorkResult struct {
	// Problems say why the worker's output could not be read as a document
	// or a question set (an LLM's malformed answer): the engine records
	// them as a failed QA check and asks again with them.
	Problems []string    `json:"problems,omitempty"`
	Document *Submission `json:"document,omitempty"`
	// Questions is a clarification set (at most MaxQuestions).
	Questions []Question `json:"questions,omitempty"`
	// AwaitPerson hands the step to a person: the execution waits for a
	// submission.
	AwaitPerson bool `json:"await_person,omitempty"`
	// RequestHash is the SHA-256 of the whole request that produced this
	// result (LLM workers); it is stored on the attempt with the output.
	RequestHash string `json:"request_hash,omitempty"`
}

// PersonWorker is the default worker when no LLM is configured: its work
// is to put the execution into waiting_input until a person submits.
type PersonWorker struct{}

// Name implements Worker.
func (PersonWorker) Name() string { return "person" }

// Work implements Worker.
func (PersonWorker) Work(ctx context.Context, task *Task) (*WorkResult, error) {
	return &WorkResult{AwaitPerson: true}, nil
}
