package combine

import (
	"context"
	"encoding/json"
	"time"
)

// Acceptance states of a document.
const (
	AcceptanceNotRequired = "not_required"
	AcceptancePending     = "pending"
	AcceptanceAccepted    = "accepted"
	AcceptanceRejected    = "rejected"
	// AcceptanceSuperseded: a reviewer accepted a corrected next version
	// instead of this one.
	AcceptanceSuperseded = "superseded"
)

// Document is one version of a produced document, versioned per
// (project, document type, scope).
type Document struct {
	ID           string          `json:"document_id"`
	ProjectID    string          `json:"project_id"`
	DocumentType string          `json:"document_type"`
	ScopeType    string          `json:"scope_type"`
	ScopeID      string          `json:"scope_id"`
	Version      int             `json:"version"`
	IsLatest     bool            `json:"is_latest"`
	Title        string          `json:"title"`
	Content      json.RawMessage `json:"content"`
	// CreatedBy is "user:<id>" for a person or "worker:<name>" for a worker.
	CreatedBy   string          `json:"created_by"`
	ExecutionID string          `json:"execution_id"`
	StepID      string          `json:"step_id"`
	StepPath    string          `json:"step_path"`
	Acceptance  AcceptanceState `json:"acceptance"`
	CreatedAt   time.Time       `json:"created_at"`
}

// AcceptanceState is a document's acceptance status and the decision
// that set it, if any.
type AcceptanceState struct {
	// Status is one of the Acceptance* constants.
	Status    string     `json:"status"`
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	Comment   string     `json:"comment,omitempty"`
}

// DocumentFilter selects documents. Latest limits to the newest version
// of each (type, scope). The order is stable.
type DocumentFilter struct {
	ExecutionID  string
	ProjectID    string
	DocumentType string
	ScopeID      string
	Latest       bool
	Limit        int
	Offset       int
}

// DocumentService reads produced documents.
type DocumentService interface {
	// FindDocument returns ENOTFOUND for an unknown id.
	FindDocument(ctx context.Context, id string) (*Document, error)
	ListDocuments(ctx context.Context, f DocumentFilter) ([]*Document, int, error)
	// DocumentVersions lists every version of the document's (type,
	// scope) in its project, newest first.
	DocumentVersions(ctx context.Context, id string) ([]*Document, error)
}
