package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/thecombine/combine"
)

// handleExecutionCosts serves GET /api/v1/executions/{id}/costs: every
// LLM call of the execution and the totals.
func (s *Server) handleExecutionCosts(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Engine.Costs.ExecutionCosts(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, c)
	return nil
}

// maxFilterLen bounds the text filters of the telemetry summary, in
// characters: longer than any workflow id, provider or model name.
const maxFilterLen = 200

// handleTelemetrySummary serves GET /api/v1/telemetry/summary: LLM calls,
// tokens and cost per workflow, model and day, filtered by workflow_id,
// provider, model, since and until (dates YYYY-MM-DD or RFC 3339 times;
// until is exclusive).
func (s *Server) handleTelemetrySummary(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "workflow_id", "provider", "model", "since", "until":
		default:
			return combine.Errorf(combine.EINVALID, "unknown filter %q (workflow_id, provider, model, since, until)", k)
		}
	}
	f := combine.TelemetryFilter{WorkflowID: q.Get("workflow_id"), Provider: q.Get("provider"), Model: q.Get("model")}
	// The text guard has refused NUL and invalid UTF-8 already (before
	// any database sees them); this bounds the length too.
	for _, k := range []string{"workflow_id", "provider", "model"} {
		if err := combine.CheckText(k, q.Get(k), maxFilterLen); err != nil {
			return err
		}
	}
	var err error
	if f.Since, err = parseWhen("since", q.Get("since")); err != nil {
		return err
	}
	if f.Until, err = parseWhen("until", q.Get("until")); err != nil {
		return err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return combine.Errorf(combine.EINVALID, "until must be after since")
	}
	sum, err := s.Engine.Costs.TelemetrySummary(r.Context(), f)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, sum)
	return nil
}

// parseWhen reads a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time.
func parseWhen(name, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, combine.Errorf(combine.EINVALID, "%s must be a date (YYYY-MM-DD) or an RFC 3339 time, not %q", name, v)
}
