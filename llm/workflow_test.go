package llm_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/llmfake"
	"github.com/thecombine/combine/llm"
	"github.com/thecombine/combine/workflow"
)

// storyBacklogFor is the test story backlog rewritten for epic: its
// epic_id and story ids belong to that epic.
func storyBacklogFor(t testing.TB, text string) json.RawMessage {
	epic := "EP-01"
	if strings.Contains(text, `id="EP-02"`) {
		epic = "EP-02"
	}
	return json.RawMessage(strings.ReplaceAll(string(testDocument(t, "story_backlog")), "EP-01", epic))
}

// runWholeWorkflow drives the built-in workflow with LLM workers and
// people accepting, until it completes; it returns the execution.
func runWholeWorkflow(t testing.TB, r *rig, project string) *combine.Execution {
	t.Helper()
	e := r.start(project)
	r.accept(pm, e.ID, r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance))
	r.accept(architect, e.ID, r.pendingAt(e.ID, "project_architecture", combine.WorkAcceptance))
	for _, epic := range []string{"EP-01", "EP-02"} {
		path := "for_each_epic[" + epic + "]/story_backlog"
		r.accept(ba, e.ID, r.pendingAt(e.ID, path, combine.WorkAcceptance))
	}
	return r.wait(e.ID, combine.StatusCompleted)
}

// wholeWorkflowHandler answers every document of the built-in workflow
// after delay.
func wholeWorkflowHandler(t testing.TB, delay time.Duration) llmfake.Handler {
	return func(c *llmfake.Call) llmfake.Reply {
		doc := testDocument(t, c.DocumentType)
		if c.DocumentType == "story_backlog" {
			doc = storyBacklogFor(t, c.Text)
		}
		return llmfake.Reply{Document: doc, Delay: delay}
	}
}

// TestWholeWorkflowByLLMs: the built-in workflow, every document written
// by the model and the three acceptances by people; the 2 epics × 2
// stories' calls overlap at the provider; the ledger's token totals equal
// what the server reported.
func TestWholeWorkflowByLLMs(t *testing.T) {
	t.Parallel()
	for _, m := range []mode{{llm.ProviderAnthropic, true}, {llm.ProviderOpenAI, true}} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, m, wholeWorkflowHandler(t, 300*time.Millisecond))
			e := runWholeWorkflow(t, r, "whole")
			docs, _, err := r.svc.ListDocuments(context.Background(), combine.DocumentFilter{ExecutionID: e.ID, Latest: true, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 11 {
				t.Fatalf("%d documents, want 11", len(docs))
			}
			for _, d := range docs {
				if d.CreatedBy != "worker:llm-"+m.provider || d.Version != 1 {
					t.Errorf("%s %s v%d by %s", d.DocumentType, d.ScopeID, d.Version, d.CreatedBy)
				}
			}
			if got := r.fake.MaxInFlight(); got < 2 {
				t.Errorf("the provider saw at most %d calls at once; the iterations should overlap", got)
			}
			c := r.costs(e.ID)
			if c.Totals.Calls != 11 || len(r.fake.Calls()) != 11 {
				t.Errorf("%d ledger calls, %d at the server; want 11", c.Totals.Calls, len(r.fake.Calls()))
			}
			r.checkLedgerMatches(c.Calls)
			sum, err := (&llm.Costs{DB: r.db}).TelemetrySummary(context.Background(), combine.TelemetryFilter{WorkflowID: spd})
			if err != nil || len(sum.Rows) != 1 || sum.Totals.InputTokens != c.Totals.InputTokens || sum.Rows[0].Calls != 11 {
				t.Errorf("summary %+v, %v", sum, err)
			}
		})
	}
}

// TestMixedWorkflow: a definition where people write the discovery and
// LLMs the rest, with a model for one role.
func TestMixedWorkflow(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "workflow", "builtin", "software_product_development.json"))
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	def["workflow_id"] = "mixed"
	def["llm"] = map[string]any{"role_models": map[string]any{"technical_architect": "claude-opus-5-5"}}
	def["steps"].([]any)[0].(map[string]any)["worker"] = "person"
	dir := t.TempDir()
	out, _ := json.Marshal(def)
	if err := os.WriteFile(filepath.Join(dir, "mixed.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := workflow.Load(workflow.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, mode{llm.ProviderAnthropic, false}, wholeWorkflowHandler(t, 0), func(o *rigOpts) { o.wfs = reg })
	e, err := r.svc.StartExecution(admin, combine.StartExecution{WorkflowID: "mixed", ProjectID: "mixed"})
	if err != nil {
		t.Fatal(err)
	}
	it := r.pendingAt(e.ID, "project_discovery", combine.WorkInput)
	if len(r.fake.Calls()) != 0 {
		t.Fatal("the person's step was sent to the model")
	}
	if _, err := r.svc.SubmitDocument(admin, e.ID, combine.Submission{StepPath: it.StepPath, Attempt: it.Attempt,
		Content: testDocument(t, "project_discovery")}); err != nil {
		t.Fatal(err)
	}
	r.accept(pm, e.ID, r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance))
	r.pendingAt(e.ID, "project_architecture", combine.WorkAcceptance)
	calls := r.fake.Calls()
	if len(calls) != 2 || calls[0].Model != llm.DefaultAnthropicModel || calls[1].Model != "claude-opus-5-5" {
		t.Fatalf("calls %d: %v", len(calls), calls)
	}
	steps, _ := r.svc.ListSteps(context.Background(), e.ID)
	if steps[0].Attempts[0].Worker != "user:usr_admin" || steps[1].Attempts[0].Worker != "llm-anthropic" {
		t.Errorf("workers %q, %q", steps[0].Attempts[0].Worker, steps[1].Attempts[0].Worker)
	}
}

// TestLiveProgress: a streamed call reports its progress while it runs,
// throttled, ending with the exact output tokens.
func TestLiveProgress(t *testing.T) {
	t.Parallel()
	r := newRig(t, mode{llm.ProviderAnthropic, true}, func(c *llmfake.Call) llmfake.Reply {
		return llmfake.Reply{Document: testDocument(t, c.DocumentType), Delay: 500 * time.Millisecond}
	})
	e := r.start("progress")
	ch, cancel := r.worker.SubscribeProgress(e.ID)
	defer cancel()
	var mu sync.Mutex
	var got []combine.Progress
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range ch {
			mu.Lock()
			got = append(got, p)
			mu.Unlock()
			if p.Done && p.StepPath == "project_discovery" {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("no final progress report")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 3 {
		t.Fatalf("%d progress reports for a half-second streamed answer", len(got))
	}
	last := got[len(got)-1]
	want := r.fake.Reported().OutputTokens
	if last.OutputTokens != want || last.InputTokens == 0 || last.Attempt != 1 {
		t.Errorf("final report %+v, the server reported %d output tokens", last, want)
	}
	if n := r.scalar(`SELECT COUNT(*) FROM execution_events WHERE execution_id = $1 AND type LIKE 'llm%'`, e.ID); n != 0 {
		t.Errorf("%d progress events stored in the durable log", n)
	}
}
