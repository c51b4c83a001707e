package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/llmfake"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// TestLLMCallSurvivesKill: `combine serve` with LLM_PROVIDER=anthropic
// against a fake provider on loopback. The process is SIGKILLed as soon as
// the discovery call is recorded as completed in the ledger — before or
// after the engine stored the step's output, whichever the race gives.
// After a restart the execution continues; the provider counted exactly
// one discovery call and the ledger holds it once, with the tokens the
// provider reported.
func TestLLMCallSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	t.Parallel()
	var discoveryCalls atomic.Int32
	fake := llmfake.NewAnthropic(t, func(c *llmfake.Call) llmfake.Reply {
		b, err := os.ReadFile(filepath.Join("..", "workflow", "testdata", "documents", c.DocumentType+".json"))
		if err != nil {
			return llmfake.Reply{Status: 400}
		}
		if c.DocumentType == "project_discovery" {
			discoveryCalls.Add(1)
		}
		return llmfake.Reply{Document: json.RawMessage(b), Delay: 100 * time.Millisecond}
	})
	dbURL := testdb.URL(t)
	env := newProcEnv(t, dbURL, append(runnerEnv, "LLM_PROVIDER=anthropic", "ANTHROPIC_API_KEY=test-key",
		"ANTHROPIC_BASE_URL="+fake.URL, "LLM_REQUEST_TIMEOUT=10s", "LLM_RETRY_MAX_WAIT=1s",
		"RUNNER_STEP_TIMEOUT=20s", "RUNNER_RESCUE_AFTER=30s")...)
	env.cli("migrate")
	token := env.token("llm@example.com", "admin")
	srv := env.startInstance("serve")
	c := newClient(t, srv.URL, token)

	db, err := sqldb.Open(context.Background(), dbURL, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := c.start("killed")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		if err := db.R.QueryRow(`SELECT COUNT(*) FROM llm_calls WHERE execution_id = $1 AND step_path = 'project_discovery' AND status = 'completed'`,
			e.ID).Scan(&n); err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the discovery call never completed; log:\n%s", srv.tail())
		}
		time.Sleep(time.Millisecond)
	}
	srv.kill()
	var attempt string
	if err := db.R.QueryRow(`SELECT status FROM step_attempts WHERE execution_id = $1 AND step_path = 'project_discovery'`, e.ID).Scan(&attempt); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed with the discovery attempt %s (running: the stored call is reused; produced or later: the engine's output is)", attempt)

	srv.start()
	it := c.item(e.ID, "epic_backlog", "killed", combine.WorkAcceptance)
	if it.Attempt != 1 {
		t.Errorf("epic backlog at attempt %d", it.Attempt)
	}
	if n := discoveryCalls.Load(); n != 1 {
		t.Fatalf("the provider got %d discovery calls, want exactly 1", n)
	}
	var costs combine.ExecutionCosts
	c.must("GET", "/api/v1/executions/"+e.ID+"/costs", nil, http.StatusOK, &costs)
	disc := 0
	var in, out int64
	for _, call := range costs.Calls {
		if call.StepPath == "project_discovery" {
			disc++
		}
		if call.Status == combine.CallCompleted {
			in, out = in+call.InputTokens, out+call.OutputTokens
		}
	}
	if disc != 1 {
		t.Errorf("the ledger has %d discovery calls, want 1: %s", disc, fmtJSON(costs.Calls))
	}
	rep := fake.Reported()
	if in != rep.InputTokens || out != rep.OutputTokens || costs.Totals.InputTokens != rep.InputTokens {
		t.Errorf("ledger tokens %d in / %d out, the provider reported %d / %d", in, out, rep.InputTokens, rep.OutputTokens)
	}
	var metrics string
	{
		resp, err := http.Get(srv.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
	}
	if !strings.Contains(metrics, "combine_llm_calls_total") || !strings.Contains(metrics, "combine_llm_cost_usd_total") {
		t.Errorf("the LLM metrics are not exported")
	}
}
