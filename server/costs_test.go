package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
)

// costsStub records the filter it was asked for.
type costsStub struct{ got combine.TelemetryFilter }

func (c *costsStub) ExecutionCosts(ctx context.Context, id string) (*combine.ExecutionCosts, error) {
	if id != "exe_1" {
		return nil, combine.Errorf(combine.ENOTFOUND, "execution %q not found", id)
	}
	return &combine.ExecutionCosts{ExecutionID: id, Calls: []*combine.LLMCall{}, Totals: combine.CostTotals{Calls: 1, InputTokens: 10}}, nil
}

func (c *costsStub) TelemetrySummary(ctx context.Context, f combine.TelemetryFilter) (*combine.TelemetrySummary, error) {
	c.got = f
	return &combine.TelemetrySummary{Rows: []combine.TelemetryRow{}}, nil
}

// TestCostHandlers: the filters of the summary are parsed and checked at
// the boundary; an unknown execution is 404.
func TestCostHandlers(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	stub := &costsStub{}
	x.srv.Engine.Costs = stub
	h, err := x.srv.Handler()
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := x.token(t, "viewer")
	get := func(path string) (int, map[string]any) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	if code, body := get("/api/v1/executions/exe_1/costs"); code != 200 || body["totals"].(map[string]any)["input_tokens"] != float64(10) {
		t.Errorf("costs: %d %v", code, body)
	}
	if code, _ := get("/api/v1/executions/exe_2/costs"); code != 404 {
		t.Errorf("unknown execution: %d", code)
	}
	if code, _ := get("/api/v1/telemetry/summary?workflow_id=w&model=m&provider=anthropic&since=2026-11-01&until=2026-12-01T00:00:00Z"); code != 200 {
		t.Errorf("summary: %d", code)
	}
	want := combine.TelemetryFilter{WorkflowID: "w", Model: "m", Provider: "anthropic",
		Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	if !stub.got.Since.Equal(want.Since) || !stub.got.Until.Equal(want.Until) || stub.got.WorkflowID != "w" || stub.got.Model != "m" || stub.got.Provider != "anthropic" {
		t.Errorf("filter %+v", stub.got)
	}
	for _, q := range []string{"since=yesterday", "colour=red", "since=2026-12-01&until=2026-11-01", "model=%00", "provider=%ff",
		"model=" + strings.Repeat("m", 201)} {
		code, body := get("/api/v1/telemetry/summary?" + q)
		if code != 400 || !strings.Contains(body["error"].(map[string]any)["code"].(string), "invalid") {
			t.Errorf("%s: %d %v", q, code, body)
		}
	}
}
