package combine

import (
	"context"
	"encoding/json"
	"time"
)

// ExecutionStatus is where an execution stands in its state machine.
type ExecutionStatus string

// The execution statuses of the engine spec.
const (
	StatusPending              ExecutionStatus = "pending"
	StatusRunning              ExecutionStatus = "running"
	StatusWaitingInput         ExecutionStatus = "waiting_input"
	StatusWaitingClarification ExecutionStatus = "waiting_clarification"
	StatusWaitingAcceptance    ExecutionStatus = "waiting_acceptance"
	StatusCompleted            ExecutionStatus = "completed"
	StatusFailed               ExecutionStatus = "failed"
	StatusCancelled            ExecutionStatus = "cancelled"
)

// AllExecutionStatuses lists every status, in lifecycle order.
var AllExecutionStatuses = []ExecutionStatus{
	StatusPending, StatusRunning, StatusWaitingInput, StatusWaitingClarification,
	StatusWaitingAcceptance, StatusCompleted, StatusFailed, StatusCancelled,
}

// Valid reports whether s is a known status.
func (s ExecutionStatus) Valid() bool {
	for _, v := range AllExecutionStatuses {
		if v == s {
			return true
		}
	}
	return false
}

// Terminal reports whether no transition leaves s. A failed execution is
// terminal until someone retries it.
func (s ExecutionStatus) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Waiting reports whether s waits for a person (input, answers or a decision).
func (s ExecutionStatus) Waiting() bool {
	return s == StatusWaitingInput || s == StatusWaitingClarification || s == StatusWaitingAcceptance
}

// Execution is one run of a workflow for a project. The items of an
// iteration run side by side, so an execution has a set of open work
// items: Pending lists those waiting for a person, Running those a
// worker is on; Status summarises both.
type Execution struct {
	ID               string          `json:"execution_id"`
	WorkflowID       string          `json:"workflow_id"`
	WorkflowRevision string          `json:"workflow_revision"`
	ProjectID        string          `json:"project_id"`
	Inputs           json.RawMessage `json:"inputs"`
	Status           ExecutionStatus `json:"status"`
	// Pending lists the open work items that wait for a person, in the
	// order they were opened; empty (never null) when none.
	Pending []*WorkItem `json:"pending"`
	// Running lists the open work items a worker is on.
	Running []*WorkItem `json:"running"`
	Error   string      `json:"error,omitempty"`
	// FailedStepPath is the work item whose failure failed the execution
	// (empty when the failure was not a step's, or when not failed).
	FailedStepPath string `json:"failed_step_path,omitempty"`
	// Retries counts the times the execution was retried after failing.
	Retries    int        `json:"retries"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// SummarizeStatus is the status of a non-terminal, started execution
// with these open work items: running while any item is with a worker,
// else waiting_acceptance if any waits for a decision, else
// waiting_clarification, else waiting_input.
func SummarizeStatus(items []*WorkItem) ExecutionStatus {
	var acc, clar, input bool
	for _, it := range items {
		switch it.Kind {
		case WorkRunning:
			return StatusRunning
		case WorkAcceptance:
			acc = true
		case WorkClarification:
			clar = true
		case WorkInput:
			input = true
		}
	}
	switch {
	case acc:
		return StatusWaitingAcceptance
	case clar:
		return StatusWaitingClarification
	case input:
		return StatusWaitingInput
	}
	return StatusRunning
}

// StepRef identifies a step instance: the step definition, its path
// through iterations (e.g. "per_epic[E1]/per_story[S2]/implementation_notes")
// and the scope it produces into.
type StepRef struct {
	StepID string `json:"step_id"`
	// Path is unique within the execution; iteration items appear as [item id].
	Path      string `json:"path"`
	ScopeType string `json:"scope_type"`
	ScopeID   string `json:"scope_id"`
	// Items are the iteration items enclosing the step, outermost first.
	Items   []IterationItem `json:"items,omitempty"`
	Attempt int             `json:"attempt"`
}

// IterationItem is one item of an iteration on the way to a step.
type IterationItem struct {
	StepID     string `json:"step_id"`
	EntityType string `json:"entity_type"`
	ItemID     string `json:"item_id"`
	ScopeType  string `json:"scope_type"`
	ScopeID    string `json:"scope_id"`
}

// Work item kinds: what an open work item waits for.
const (
	// WorkRunning: a worker is on it.
	WorkRunning = "running"
	// WorkInput: a person must submit the document.
	WorkInput = "input"
	// WorkClarification: a person must answer the worker's questions.
	WorkClarification = "clarification"
	// WorkAcceptance: a reviewer must accept or reject the document.
	WorkAcceptance = "acceptance"
)

// WorkItem is one open step instance of an execution and exactly what
// it needs to move on. Every action names the work item it is for by
// StepPath and Attempt (and a decision also by Document).
type WorkItem struct {
	StepPath string `json:"step_path"`
	StepID   string `json:"step_id"`
	Attempt  int    `json:"attempt"`
	// Kind is one of the Work* constants.
	Kind         string `json:"kind"`
	Role         string `json:"role,omitempty"`
	DocumentType string `json:"document_type"`
	ScopeType    string `json:"scope_type"`
	ScopeID      string `json:"scope_id"`
	// Item is the iteration item the step is on (nil outside iterations).
	Item *ItemRef `json:"item,omitempty"`
	// Inputs are the documents (and versions) this attempt reads.
	Inputs []InputRead `json:"inputs"`
	// Schema is the JSON schema the document must match (input items,
	// single-execution responses only).
	Schema json.RawMessage `json:"schema,omitempty"`
	// Questions are the open clarification questions (clarification items).
	Questions []Question `json:"questions,omitempty"`
	// Problems are the QA problems of the previous attempt to address.
	Problems []string `json:"problems,omitempty"`
	// ReviewerComment is the comment of the rejection being addressed.
	ReviewerComment string `json:"reviewer_comment,omitempty"`
	// AttemptsLeft is how many more documents may fail QA before the step
	// fails; RejectionsLeft how many more rejections it tolerates.
	AttemptsLeft   int `json:"attempts_left"`
	RejectionsLeft int `json:"rejections_left"`
	// AcceptedBy lists the reviewer roles that may decide (admin always may).
	AcceptedBy []string `json:"accepted_by,omitempty"`
	// Document is the document awaiting a decision (acceptance items).
	Document *DocumentRef `json:"document,omitempty"`
	// Worker names who works a running item.
	Worker   string    `json:"worker,omitempty"`
	OpenedAt time.Time `json:"opened_at"`
}

// ItemRef names an iteration item and carries its content.
type ItemRef struct {
	EntityType string          `json:"entity_type"`
	ID         string          `json:"id"`
	Content    json.RawMessage `json:"content,omitempty"`
}

// InputRead is one input an attempt read: a document version, or an
// entity (an item of a collection) taken from a document version.
type InputRead struct {
	DocumentID   string `json:"document_id"`
	DocumentType string `json:"document_type"`
	ScopeType    string `json:"scope_type"`
	ScopeID      string `json:"scope_id"`
	Version      int    `json:"version"`
	// EntityType and ItemID are set for an entity input.
	EntityType string `json:"entity_type,omitempty"`
	ItemID     string `json:"item_id,omitempty"`
}

// DocumentRef names one version of a document.
type DocumentRef struct {
	DocumentID string `json:"document_id"`
	Version    int    `json:"version"`
}

// Question is one clarification question a worker asks, with the field
// names of the clarification schema (clarification_questions.v1).
type Question struct {
	ID           string `json:"id"`
	Text         string `json:"text"`
	WhyItMatters string `json:"why_it_matters"`
	// Priority is "must", "should" or "could".
	Priority string `json:"priority"`
	Blocking bool   `json:"blocking"`
}

// MaxQuestions is the most questions one clarification set may hold.
const MaxQuestions = 5

// ExecutionFilter selects executions for listing. The order is stable:
// newest first, ties broken by id.
type ExecutionFilter struct {
	WorkflowID string
	Status     ExecutionStatus
	ProjectID  string
	Limit      int
	Offset     int
}

// StartExecution is the request to start a workflow. Inputs is a JSON
// object handed to workers; its "documents" member may seed document
// types of the root scope: {"documents": {"<type>": {"title"?, "content": {…}}}}.
type StartExecution struct {
	WorkflowID string
	ProjectID  string
	Inputs     json.RawMessage
}

// Submission is a person's delivery of the document of one work item.
type Submission struct {
	StepPath string          `json:"step_path"`
	Attempt  int             `json:"attempt"`
	Title    string          `json:"title,omitempty"`
	Content  json.RawMessage `json:"content"`
}

// Answers answer the clarification questions of one work item.
type Answers struct {
	StepPath string            `json:"step_path"`
	Attempt  int               `json:"attempt"`
	Answers  map[string]string `json:"answers"`
}

// Decision accepts or rejects the document version a work item waits on.
// Content (accept only) is the reviewer's corrected document: it passes
// the QA gate, is stored as the next version and accepted at once.
type Decision struct {
	StepPath   string `json:"step_path"`
	Attempt    int    `json:"attempt,omitempty"`
	DocumentID string `json:"document_id"`
	Version    int    `json:"version"`
	Accepted   bool   `json:"accepted"`
	Comment    string `json:"comment"`
	// Title optionally names the corrected version.
	Title   string          `json:"title,omitempty"`
	Content json.RawMessage `json:"content,omitempty"`
}

// ExecutionService runs workflows. An action whose work item is not open
// now (a double click, a stale page, a late decision) returns ECONFLICT
// with the current pending list in Details["pending"] and changes
// nothing. The caller is taken from the context (AuthFromContext).
type ExecutionService interface {
	StartExecution(ctx context.Context, req StartExecution) (*Execution, error)
	// FindExecution returns ENOTFOUND for an unknown id.
	FindExecution(ctx context.Context, id string) (*Execution, error)
	// ListExecutions returns a page of executions and the total count.
	ListExecutions(ctx context.Context, f ExecutionFilter) ([]*Execution, int, error)
	// SubmitDocument delivers the document of an input work item. A
	// document failing QA is refused (EINVALID with the problems in
	// Details["problems"]), recorded as a failed attempt with its sender,
	// and uses one of the step's attempts.
	SubmitDocument(ctx context.Context, id string, sub Submission) (*Execution, error)
	// AnswerClarification resumes a clarification work item.
	AnswerClarification(ctx context.Context, id string, a Answers) (*Execution, error)
	// DecideAcceptance accepts or rejects the document an acceptance work
	// item waits on, or accepts a corrected version of it.
	DecideAcceptance(ctx context.Context, id string, d Decision) (*Execution, error)
	// RetryExecution re-opens the failed work item of a failed execution
	// as a new attempt with a fresh budget (ECONFLICT unless failed).
	RetryExecution(ctx context.Context, id string, comment string) (*Execution, error)
	// CancelExecution stops a non-terminal execution at once.
	CancelExecution(ctx context.Context, id string) (*Execution, error)
}

// StepRun is the record of one step instance of an execution: its
// attempts and gate counters, in the order they happened.
type StepRun struct {
	StepRef
	// Status is running, completed, failed or cancelled.
	Status         string        `json:"status"`
	QAFailures     int           `json:"qa_failures"`
	Rejections     int           `json:"rejections"`
	Clarifications int           `json:"clarifications"`
	Error          string        `json:"error,omitempty"`
	Attempts       []StepAttempt `json:"attempts"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
}

// StepAttempt is one attempt of a step: who worked it, what it read,
// what it was asked to address and how it ended (running, produced,
// parked, waiting_input, questions, qa_failed, document, accepted,
// rejected, failed, cancelled).
type StepAttempt struct {
	Attempt        int    `json:"attempt"`
	IdempotencyKey string `json:"idempotency_key"`
	// Worker is the worker's name, or "user:<id>" for a person who sent
	// the attempt's document (accepted or refused).
	Worker string `json:"worker"`
	Status string `json:"status"`
	// Inputs are the document versions the attempt read.
	Inputs []InputRead `json:"inputs"`
	// Problems are the QA problems that failed this attempt.
	Problems []string `json:"problems,omitempty"`
	// Feedback is what the attempt was asked to address.
	Feedback json.RawMessage `json:"feedback,omitempty"`
	// Prompts are the role and task prompt versions and SHA-256 hashes
	// the attempt ran with.
	Prompts []PromptRef `json:"prompts"`
	// RequestHash is the SHA-256 of the whole request an LLM worker sent
	// for the attempt's result (empty for people).
	RequestHash string     `json:"request_hash,omitempty"`
	DocumentID  string     `json:"document_id,omitempty"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// StepService exposes the record of an execution's steps.
type StepService interface {
	// ListSteps returns the step runs of an execution in the order they
	// started; ENOTFOUND for an unknown execution.
	ListSteps(ctx context.Context, executionID string) ([]*StepRun, error)
}
