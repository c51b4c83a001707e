package llm

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// ledger is the store of the cost ledger (table llm_calls).
type ledger struct {
	db *sqldb.DB
}

// callRow is a ledger row being written.
type callRow struct {
	combine.LLMCall
	ReservedUSD float64
	Response    *answer
	InstanceID  string
}

func newCallID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "llm_" + string(b)
}

// completedAnswer returns the stored answer of the attempt's completed
// call, if there is one: a call whose result the engine has not stored
// yet (the process died in between) is reused, never made again.
func (l *ledger) completedAnswer(ctx context.Context, executionID, path string, attempt int) (*answer, *combine.LLMCall, error) {
	var resp sql.NullString
	var c combine.LLMCall
	err := l.db.W.QueryRowContext(ctx, `SELECT id, seq, model, request_hash, response FROM llm_calls WHERE execution_id = $1 AND step_path = $2
		AND attempt = $3 AND status = $4 ORDER BY seq DESC LIMIT 1`, executionID, path, attempt, combine.CallCompleted).
		Scan(&c.ID, &c.Seq, &c.Model, &c.RequestHash, &resp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("find completed call: %w", err)
	}
	var a answer
	if err := json.Unmarshal([]byte(resp.String), &a); err != nil {
		return nil, nil, fmt.Errorf("decode stored answer of call %s: %w", c.ID, err)
	}
	return &a, &c, nil
}

// interruptStale marks the calls of an attempt still recorded as started
// as interrupted: the process making them stopped (the job is being worked
// again). The provider may have billed them; their reservation keeps
// counting against the budget.
func (l *ledger) interruptStale(ctx context.Context, executionID, path string, attempt int, now time.Time) (int64, error) {
	res, err := l.db.W.ExecContext(ctx, `UPDATE llm_calls SET status = $4, error = $5, ended_at = $6
		WHERE execution_id = $1 AND step_path = $2 AND attempt = $3 AND status = $7`,
		executionID, path, attempt, combine.CallInterrupted,
		"the process making the call stopped before it ended; the provider may have billed it", sqldb.Time(now), combine.CallStarted)
	if err != nil {
		return 0, fmt.Errorf("mark interrupted calls: %w", err)
	}
	return res.RowsAffected()
}

// budgetError says which budget a call would exceed.
type budgetError struct {
	limit, spent, reserve float64
	source                string
}

func (e *budgetError) Error() string {
	return fmt.Sprintf("the LLM budget of $%.4f per execution (%s) would be exceeded: $%.4f is spent or reserved and this call may cost up to $%.4f; raise the budget and retry the execution",
		e.limit, e.source, e.spent, e.reserve)
}

// budget is a cap on one execution's LLM cost and where it comes from.
type budget struct {
	limit  float64
	source string
}

// begin checks the budgets and records the call as started, with its
// worst-case cost reserved, in one transaction that holds the execution's
// row (PostgreSQL) or the single writer (SQLite): calls of one execution
// running side by side cannot together overshoot a budget.
func (l *ledger) begin(ctx context.Context, row *callRow, budgets []budget) error {
	return l.db.WithTx(ctx, func(tx *sql.Tx) error {
		if l.db.Dialect == sqldb.Postgres {
			var id string
			if err := tx.QueryRowContext(ctx, `SELECT id FROM executions WHERE id = $1 FOR UPDATE`, row.ExecutionID).Scan(&id); err != nil {
				return fmt.Errorf("lock execution: %w", err)
			}
		}
		if len(budgets) > 0 {
			var spent float64
			err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN status IN ($2, $3) THEN reserved_usd ELSE cost_usd END), 0)
				FROM llm_calls WHERE execution_id = $1`, row.ExecutionID, combine.CallStarted, combine.CallInterrupted).Scan(&spent)
			if err != nil {
				return fmt.Errorf("sum the execution's cost: %w", err)
			}
			for _, b := range budgets {
				if spent+row.ReservedUSD > b.limit {
					return &budgetError{limit: b.limit, spent: spent, reserve: row.ReservedUSD, source: b.source}
				}
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM llm_calls WHERE execution_id = $1 AND step_path = $2 AND attempt = $3`,
			row.ExecutionID, row.StepPath, row.Attempt).Scan(&row.Seq); err != nil {
			return fmt.Errorf("next call number: %w", err)
		}
		prompts, err := json.Marshal(row.Prompts)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO llm_calls (id, execution_id, workflow_id, step_path, attempt, seq, provider, model,
			status, request_hash, prompts, reserved_usd, priced, instance_id, started_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			row.ID, row.ExecutionID, row.WorkflowID, row.StepPath, row.Attempt, row.Seq, row.Provider, row.Model,
			combine.CallStarted, row.RequestHash, string(prompts), row.ReservedUSD, row.Priced, row.InstanceID, sqldb.Time(row.StartedAt))
		if err != nil {
			return fmt.Errorf("record call: %w", err)
		}
		return nil
	})
}

// finish records how a started call ended: its usage, cost and answer
// (completed) or its error (failed). The answer is stored here, before
// the engine applies anything.
func (l *ledger) finish(ctx context.Context, row *callRow) error {
	var resp any
	if row.Response != nil {
		b, err := json.Marshal(row.Response)
		if err != nil {
			return err
		}
		resp = string(b)
	}
	res, err := l.db.W.ExecContext(ctx, `UPDATE llm_calls SET status = $2, model = $3, request_hash = $4, input_tokens = $5,
		output_tokens = $6, cache_read_tokens = $7, cache_write_tokens = $8, cost_usd = $9, latency_ms = $10, error = $11,
		response = $12, ended_at = $13 WHERE id = $1 AND status = $14`,
		row.ID, row.Status, row.Model, row.RequestHash, row.InputTokens, row.OutputTokens, row.CacheReadTokens,
		row.CacheWriteTokens, row.CostUSD, row.LatencyMS, row.Error, resp, sqldb.Time(*row.EndedAt), combine.CallStarted)
	if err != nil {
		return fmt.Errorf("record call result: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("call %s is no longer in flight", row.ID)
	}
	return nil
}

const callColumns = `id, execution_id, workflow_id, step_path, attempt, seq, provider, model, status, request_hash, prompts,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, priced, latency_ms, error, started_at, ended_at`

func scanCall(sc interface{ Scan(...any) error }) (*combine.LLMCall, error) {
	var c combine.LLMCall
	var prompts string
	var ended time.Time
	if err := sc.Scan(&c.ID, &c.ExecutionID, &c.WorkflowID, &c.StepPath, &c.Attempt, &c.Seq, &c.Provider, &c.Model, &c.Status,
		&c.RequestHash, &prompts, &c.InputTokens, &c.OutputTokens, &c.CacheReadTokens, &c.CacheWriteTokens, &c.CostUSD,
		&c.Priced, &c.LatencyMS, &c.Error, sqldb.TimeDest{T: &c.StartedAt}, sqldb.TimeDest{T: &ended}); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(prompts), &c.Prompts); err != nil {
		return nil, fmt.Errorf("decode prompts: %w", err)
	}
	if !ended.IsZero() {
		c.EndedAt = &ended
	}
	return &c, nil
}
