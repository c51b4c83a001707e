package llm_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/llm"
	"github.com/thecombine/combine/workflow"
)

// TestConcurrencyBoundsCalls: with LLM_CONCURRENCY=1 the provider never
// sees two calls at once, though the iterations' items are open side by
// side.
func TestConcurrencyBoundsCalls(t *testing.T) {
	t.Parallel()
	r := newRig(t, mode{llm.ProviderOpenAI, false}, wholeWorkflowHandler(t, 50*time.Millisecond),
		withWorker(func(c *llm.Config) { c.Concurrency = 1 }))
	runWholeWorkflow(t, r, "one-at-a-time")
	if got := r.fake.MaxInFlight(); got != 1 {
		t.Errorf("the provider saw %d calls at once with LLM_CONCURRENCY=1", got)
	}
}

// TestWorkflowBudget: a workflow's own llm.budget_usd stops a call that
// could exceed it, and says which budget did.
func TestWorkflowBudget(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "workflow", "builtin", "software_product_development.json"))
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	def["workflow_id"] = "capped"
	def["llm"] = map[string]any{"budget_usd": 0.001}
	dir := t.TempDir()
	out, _ := json.Marshal(def)
	if err := os.WriteFile(filepath.Join(dir, "capped.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := workflow.Load(workflow.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, mode{llm.ProviderAnthropic, true}, documents(t), func(o *rigOpts) { o.wfs = reg })
	e, err := r.svc.StartExecution(admin, combine.StartExecution{WorkflowID: "capped", ProjectID: "capped"})
	if err != nil {
		t.Fatal(err)
	}
	f := r.wait(e.ID, combine.StatusFailed)
	if !strings.Contains(f.Error, "the workflow's llm.budget_usd") || len(r.fake.Calls()) != 0 {
		t.Errorf("failed with %q after %d calls", f.Error, len(r.fake.Calls()))
	}
}
