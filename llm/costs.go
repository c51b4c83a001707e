package llm

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// Costs implements combine.CostService on the ledger.
type Costs struct {
	DB *sqldb.DB
}

var _ combine.CostService = (*Costs)(nil)

// ExecutionCosts implements combine.CostService.
func (c *Costs) ExecutionCosts(ctx context.Context, executionID string) (*combine.ExecutionCosts, error) {
	var id string
	err := c.DB.R.QueryRowContext(ctx, `SELECT id FROM executions WHERE id = $1`, executionID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "execution %q not found", executionID)
	} else if err != nil {
		return nil, fmt.Errorf("find execution: %w", err)
	}
	rows, err := c.DB.R.QueryContext(ctx, `SELECT `+callColumns+` FROM llm_calls WHERE execution_id = $1
		ORDER BY started_at, step_path, attempt, seq`, executionID)
	if err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	defer rows.Close()
	out := &combine.ExecutionCosts{ExecutionID: executionID, Calls: []*combine.LLMCall{}}
	for rows.Next() {
		call, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("scan call: %w", err)
		}
		out.Calls = append(out.Calls, call)
		add(&out.Totals, call.InputTokens, call.OutputTokens, call.CacheReadTokens, call.CacheWriteTokens, call.CostUSD, 1)
	}
	return out, rows.Err()
}

func add(t *combine.CostTotals, in, out, read, write int64, cost float64, calls int64) {
	t.Calls += calls
	t.InputTokens += in
	t.OutputTokens += out
	t.CachedTokens += read
	t.CacheWriteTokens += write
	t.CostUSD += cost
}

// TelemetrySummary implements combine.CostService: totals per workflow,
// provider, model and UTC day of the call's start.
func (c *Costs) TelemetrySummary(ctx context.Context, f combine.TelemetryFilter) (*combine.TelemetrySummary, error) {
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.WorkflowID != "" {
		arg("workflow_id = $%d", f.WorkflowID)
	}
	if f.Model != "" {
		arg("model = $%d", f.Model)
	}
	if f.Provider != "" {
		arg("provider = $%d", f.Provider)
	}
	if !f.Since.IsZero() {
		arg("started_at >= $%d", sqldb.Time(f.Since))
	}
	if !f.Until.IsZero() {
		arg("started_at < $%d", sqldb.Time(f.Until))
	}
	q := `SELECT workflow_id, provider, model, SUBSTR(started_at, 1, 10) AS day, COUNT(*), SUM(input_tokens), SUM(output_tokens),
		SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_usd) FROM llm_calls`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " GROUP BY workflow_id, provider, model, SUBSTR(started_at, 1, 10) ORDER BY day, workflow_id, provider, model"
	rows, err := c.DB.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("summarize calls: %w", err)
	}
	defer rows.Close()
	out := &combine.TelemetrySummary{Rows: []combine.TelemetryRow{}}
	for rows.Next() {
		var r combine.TelemetryRow
		if err := rows.Scan(&r.WorkflowID, &r.Provider, &r.Model, &r.Day, &r.Calls, &r.InputTokens, &r.OutputTokens,
			&r.CachedTokens, &r.CacheWriteTokens, &r.CostUSD); err != nil {
			return nil, fmt.Errorf("scan summary: %w", err)
		}
		out.Rows = append(out.Rows, r)
		add(&out.Totals, r.InputTokens, r.OutputTokens, r.CachedTokens, r.CacheWriteTokens, r.CostUSD, r.Calls)
	}
	return out, rows.Err()
}
