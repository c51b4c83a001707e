package combine

import (
	"context"
	"time"
)

// LLMCall is one request to an LLM provider, as recorded in the cost
// ledger: one durable row per call, written before the call is made and
// completed when it ends, so that a completed call is never paid twice.
type LLMCall struct {
	ID          string `json:"call_id"`
	ExecutionID string `json:"execution_id"`
	WorkflowID  string `json:"workflow_id"`
	StepPath    string `json:"step_path"`
	Attempt     int    `json:"attempt"`
	// Seq numbers the calls of one attempt (a retried call is a new call).
	Seq      int    `json:"seq"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
	// Status is started, completed, failed or interrupted.
	Status string `json:"status"`
	// RequestHash is the SHA-256 of the request body sent.
	RequestHash string      `json:"request_hash"`
	Prompts     []PromptRef `json:"prompts"`
	// InputTokens counts every prompt token, cached or not;
	// CacheReadTokens and CacheWriteTokens are the parts of it read from
	// and written to the provider's prompt cache.
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	CacheReadTokens  int64   `json:"cache_read_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	// Priced is false when the model is not in the price table (cost 0).
	Priced    bool       `json:"priced"`
	LatencyMS int64      `json:"latency_ms"`
	Error     string     `json:"error,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// LLM call statuses.
const (
	CallStarted     = "started"
	CallCompleted   = "completed"
	CallFailed      = "failed"
	CallInterrupted = "interrupted"
)

// CostTotals sums the calls of a set. CachedTokens is the number of input
// tokens read from a prompt cache.
type CostTotals struct {
	Calls            int64   `json:"calls"`
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	CostUSD          float64 `json:"cost_usd"`
}

// ExecutionCosts is the cost ledger of one execution.
type ExecutionCosts struct {
	ExecutionID string     `json:"execution_id"`
	Calls       []*LLMCall `json:"calls"`
	Totals      CostTotals `json:"totals"`
}

// TelemetryFilter selects calls for a summary; zero fields select all.
type TelemetryFilter struct {
	WorkflowID string
	Model      string
	Provider   string
	// Since and Until bound the call's start (Until exclusive).
	Since, Until time.Time
}

// TelemetryRow is the totals of one (workflow, model, day).
type TelemetryRow struct {
	WorkflowID string `json:"workflow_id"`
	Provider   string `json:"provider"`
	Model      string `json:"model"`
	// Day is the UTC date, YYYY-MM-DD.
	Day string `json:"day"`
	CostTotals
}

// TelemetrySummary rolls the cost ledger up per workflow, model and day.
type TelemetrySummary struct {
	Rows   []TelemetryRow `json:"rows"`
	Totals CostTotals     `json:"totals"`
}

// CostService reads the LLM cost ledger.
type CostService interface {
	// ExecutionCosts returns every call of an execution and their totals;
	// ENOTFOUND for an unknown execution.
	ExecutionCosts(ctx context.Context, executionID string) (*ExecutionCosts, error)
	// TelemetrySummary rolls the ledger up per workflow, model and day.
	TelemetrySummary(ctx context.Context, f TelemetryFilter) (*TelemetrySummary, error)
}

// Progress is a live report of an LLM call in flight: never stored, sent
// to the execution's event streams while the call streams.
type Progress struct {
	ExecutionID string `json:"execution_id"`
	StepPath    string `json:"step_path"`
	Attempt     int    `json:"attempt"`
	Model       string `json:"model"`
	// InputTokens is known once the provider has reported it;
	// OutputTokens is the count so far (an estimate while streaming,
	// exact when Done).
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	ElapsedMS    int64 `json:"elapsed_ms"`
	Done         bool  `json:"done"`
}

// EventLLMProgress is the Server-Sent Event type of a Progress report. It
// is not part of the durable log: it carries no sequence number.
const EventLLMProgress = "llm_progress"

// ProgressSource feeds live progress to event streams.
type ProgressSource interface {
	// SubscribeProgress returns a channel of the progress of executionID's
	// calls in flight, and a function that ends the subscription.
	SubscribeProgress(executionID string) (<-chan Progress, func())
}
