package combine

import (
	"context"
	"encoding/json"
	"time"
)

// Event types of the execution event log.
const (
	EventExecutionStarted    = "execution_started"
	EventStepStarted         = "step_started"
	EventClarificationNeeded = "clarification_needed"
	EventInputNeeded         = "input_needed"
	EventAcceptanceNeeded    = "acceptance_needed"
	EventDocumentProduced    = "document_produced"
	EventStepCompleted       = "step_completed"
	EventStepFailed          = "step_failed"
	EventExecutionCompleted  = "execution_completed"
	EventExecutionFailed     = "execution_failed"
	EventExecutionCancelled  = "execution_cancelled"
	EventExecutionRetried    = "execution_retried"
)

// IsTerminalEvent reports whether an event of type t ends the execution's
// log — for now: a failed execution that is retried goes on with
// execution_retried after its execution_failed.
func IsTerminalEvent(t string) bool {
	return t == EventExecutionCompleted || t == EventExecutionFailed || t == EventExecutionCancelled
}

// Event is one entry of an execution's durable event log. Seq starts at 1
// and increases by one per event of the execution.
type Event struct {
	ExecutionID string          `json:"execution_id"`
	Seq         int64           `json:"seq"`
	Type        string          `json:"type"`
	Data        json.RawMessage `json:"data"`
	Time        time.Time       `json:"time"`
}

// EventService reads the event log.
type EventService interface {
	// ListEvents returns up to limit events of the execution with seq >
	// afterSeq, in order. An unknown execution is ENOTFOUND.
	ListEvents(ctx context.Context, executionID string, afterSeq int64, limit int) ([]*Event, error)
}
