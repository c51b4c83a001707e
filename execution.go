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

// Terminal reports whether no transition leaves s.
func (s ExecutionStatus) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Waiting reports whether s waits for a person (input, answers or a decision).
func (s ExecutionStatus) Waiting() bool {
	return s == StatusWaitingInput || s == StatusWaitingClarification || s == StatusWaitingAcceptance
}

// Execution is one run of a workflow for a project.
type Execution struct {
	ID               string          `json:"execution_id"`
	WorkflowID       string          `json:"workflow_id"`
	WorkflowRevision string          `json:"workflow_revision"`
	ProjectID        string          `json:"project_id"`
	Inputs           json.RawMessage `json:"inputs"`
	Status           ExecutionStatus `json:"status"`
	// CurrentStep is the step instance being worked on, nil when none.
	CurrentStep *StepRef `json:"current_step"`
	// Pending says exactly what a waiting execution waits for; nil otherwise.
	Pending    *Pending   `json:"pending"`
	Error      string     `json:"error,omitempty"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
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

// Pending describes what a waiting execution needs to move on.
type Pending struct {
	// Kind is "input", "clarification" or "acceptance".
	Kind         string          `json:"kind"`
	StepID       string          `json:"step_id"`
	StepPath     string          `json:"step_path"`
	Attempt      int             `json:"attempt"`
	Role         string          `json:"role,omitempty"`
	DocumentType string          `json:"document_type"`
	ScopeType    string          `json:"scope_type"`
	ScopeID      string          `json:"scope_id"`
	Schema       json.RawMessage `json:"schema,omitempty"`
	// Questions are the open clarification questions (kind clarification).
	Questions []Question `json:"questions,omitempty"`
	// DocumentID and DocumentVersion name the document awaiting a decision.
	DocumentID      string `json:"document_id,omitempty"`
	DocumentVersion int    `json:"document_version,omitempty"`
	// AcceptedBy lists the reviewer roles that may decide (admin always may).
	AcceptedBy []string `json:"accepted_by,omitempty"`
	// Feedback is what the worker is asked to address: QA problems of the
	// previous attempt, a reviewer's comment, answers given.
	Problems        []string `json:"problems,omitempty"`
	ReviewerComment string   `json:"reviewer_comment,omitempty"`
	// AttemptsLeft is how many QA failures the step still tolerates.
	AttemptsLeft int `json:"attempts_left,omitempty"`
}

// Pending kinds.
const (
	PendingInput         = "input"
	PendingClarification = "clarification"
	PendingAcceptance    = "acceptance"
)

// Question is one clarification question a worker asks.
type Question struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	Why  string `json:"why"`
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

// StartExecution is the request to start a workflow.
type StartExecution struct {
	WorkflowID string
	ProjectID  string
	Inputs     json.RawMessage
}

// Submission is a person's delivery of the document a step waits for.
type Submission struct {
	Title   string          `json:"title"`
	Content json.RawMessage `json:"content"`
}

// Decision is an acceptance decision on the document a step waits on.
type Decision struct {
	Accepted bool   `json:"accepted"`
	Comment  string `json:"comment"`
}

// ExecutionService runs workflows. Actions that do not fit the
// execution's current status return ECONFLICT. The caller is taken from
// the context (AuthFromContext).
type ExecutionService interface {
	StartExecution(ctx context.Context, req StartExecution) (*Execution, error)
	// FindExecution returns ENOTFOUND for an unknown id.
	FindExecution(ctx context.Context, id string) (*Execution, error)
	// ListExecutions returns a page of executions and the total count.
	ListExecutions(ctx context.Context, f ExecutionFilter) ([]*Execution, int, error)
	// SubmitDocument delivers the document of a step in waiting_input. A
	// document failing QA is refused (EINVALID with the problems in
	// Details["problems"]) and recorded as a failed attempt.
	SubmitDocument(ctx context.Context, id string, sub Submission) (*Execution, error)
	// AnswerClarification resumes a step in waiting_clarification.
	AnswerClarification(ctx context.Context, id string, answers map[string]string) (*Execution, error)
	// DecideAcceptance accepts or rejects the document awaiting a decision.
	DecideAcceptance(ctx context.Context, id string, d Decision) (*Execution, error)
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

// StepAttempt is one attempt of a step: who worked it, what it was asked
// to address and how it ended (running, produced, waiting_input,
// questions, qa_failed, document, accepted, rejected, failed, cancelled).
type StepAttempt struct {
	Attempt        int    `json:"attempt"`
	IdempotencyKey string `json:"idempotency_key"`
	Worker         string `json:"worker"`
	Status         string `json:"status"`
	// Problems are the QA problems that failed this attempt.
	Problems []string `json:"problems,omitempty"`
	// Feedback is what the attempt was asked to address.
	Feedback json.RawMessage `json:"feedback,omitempty"`
	// Prompts are the role and task prompt versions and SHA-256 hashes
	// the attempt ran with.
	Prompts    []PromptRef `json:"prompts"`
	DocumentID string      `json:"document_id,omitempty"`
	StartedAt  time.Time   `json:"started_at"`
	FinishedAt *time.Time  `json:"finished_at,omitempty"`
}

// StepService exposes the record of an execution's steps.
type StepService interface {
	// ListSteps returns the step runs of an execution in the order they
	// started; ENOTFOUND for an unknown execution.
	ListSteps(ctx context.Context, executionID string) ([]*StepRun, error)
}
