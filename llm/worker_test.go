package llm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/llmfake"
	"github.com/thecombine/combine/llm"
)

// TestDocumentViaStructuredOutput: the discovery is written by the model
// through the structured output of each provider, plain and streamed; the
// request carries the document schema as the answer's schema and the
// prompt cache breakpoints; the ledger holds the call with exactly the
// tokens the server reported and the hash of the body it received.
func TestDocumentViaStructuredOutput(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, m, documents(t))
			e := r.start("acme")
			it := r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance)
			if it.Attempt != 1 {
				t.Errorf("epic backlog at attempt %d", it.Attempt)
			}
			docs, _, err := r.svc.ListDocuments(context.Background(), combine.DocumentFilter{ExecutionID: e.ID, DocumentType: "project_discovery"})
			if err != nil || len(docs) != 1 {
				t.Fatalf("discovery documents %v, %v", docs, err)
			}
			var got, want any
			json.Unmarshal(docs[0].Content, &got)
			json.Unmarshal(testDocument(t, "project_discovery"), &want)
			if !jsonEqual(got, want) || docs[0].CreatedBy != "worker:llm-"+m.provider {
				t.Errorf("discovery by %s = %s", docs[0].CreatedBy, docs[0].Content)
			}
			calls := r.fake.Calls()
			if len(calls) != 2 {
				t.Fatalf("the server got %d calls, want 2", len(calls))
			}
			first := calls[0]
			if first.Stream != m.stream || first.Model != map[string]string{"anthropic": llm.DefaultAnthropicModel, "openai": llm.DefaultOpenAIModel}[m.provider] {
				t.Errorf("call stream=%v model=%s", first.Stream, first.Model)
			}
			if !strings.Contains(first.Text, "A booking system for a small clinic.") || !strings.Contains(first.Text, "# Role: Business Analyst") {
				t.Errorf("the request lacks the brief or the role prompt")
			}
			var body map[string]any
			json.Unmarshal(first.Body, &body)
			if m.provider == llm.ProviderAnthropic {
				if !slicesEqual(first.Tools, []string{"submit_document", "ask_clarification"}) {
					t.Errorf("tools %v", first.Tools)
				}
				if n := bytes.Count(first.Body, []byte(`"cache_control"`)); n != 2 {
					t.Errorf("%d cache breakpoints, want 2", n)
				}
				tool := body["tools"].([]any)[0].(map[string]any)
				if req := tool["input_schema"].(map[string]any)["required"]; req == nil {
					t.Errorf("the document tool's input_schema lost the schema's required list: %v", tool["input_schema"])
				}
				tc := body["tool_choice"].(map[string]any)
				if tc["type"] != "auto" { // claude-sonnet-5-5 refuses forced tool use
					t.Errorf("tool_choice %v", tc)
				}
			} else if !first.Strict {
				t.Errorf("the built-in schema should qualify for strict mode")
			}
			c := r.costs(e.ID)
			if len(c.Calls) != 2 {
				t.Fatalf("ledger has %d calls", len(c.Calls))
			}
			call := c.Calls[0]
			sum := sha256.Sum256(first.Body)
			if call.Status != combine.CallCompleted || call.RequestHash != hex.EncodeToString(sum[:]) || call.StepPath != "project_discovery" ||
				call.Attempt != 1 || call.Provider != m.provider || len(call.Prompts) != 2 || call.CostUSD <= 0 || !call.Priced {
				t.Errorf("ledger row %+v", call)
			}
			steps, err := r.svc.ListSteps(context.Background(), e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := steps[0].Attempts[0].RequestHash; got != call.RequestHash {
				t.Errorf("the attempt records request hash %q, the ledger %q", got, call.RequestHash)
			}
			r.checkLedgerMatches(c.Calls)
			if c.Totals.Calls != 2 || c.Totals.InputTokens != r.fake.Reported().InputTokens {
				t.Errorf("totals %+v", c.Totals)
			}
		})
	}
}

// TestClarificationThenDocument: the model asks, a person answers, the
// step runs again with the answers in the request, then the document.
func TestClarificationThenDocument(t *testing.T) {
	t.Parallel()
	for _, m := range []mode{{llm.ProviderAnthropic, true}, {llm.ProviderOpenAI, false}} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			questions := json.RawMessage(`{"questions": [{"id": "users", "text": "Who books the appointments?", "why_it_matters": "It decides the personas.", "priority": "must", "blocking": true}]}`)
			r := newRig(t, m, func(c *llmfake.Call) llmfake.Reply {
				if c.DocumentType == "project_discovery" && !strings.Contains(c.Text, "Who books the appointments?") {
					return llmfake.Reply{Questions: questions}
				}
				return llmfake.Reply{Document: testDocument(t, c.DocumentType)}
			})
			e := r.start("clinic")
			it := r.pendingAt(e.ID, "project_discovery", combine.WorkClarification)
			if len(it.Questions) != 1 || it.Questions[0].WhyItMatters != "It decides the personas." {
				t.Fatalf("questions %+v", it.Questions)
			}
			if _, err := r.svc.AnswerClarification(admin, e.ID, combine.Answers{StepPath: it.StepPath, Attempt: it.Attempt,
				Answers: map[string]string{"users": "The receptionists, on the phone."}}); err != nil {
				t.Fatal(err)
			}
			r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance)
			calls := r.fake.Calls()
			if len(calls) != 3 || !strings.Contains(calls[1].Text, "The receptionists, on the phone.") {
				t.Fatalf("%d calls; the second carries the answer: %v", len(calls), len(calls) > 1 && strings.Contains(calls[1].Text, "receptionists"))
			}
			r.checkLedgerMatches(r.costs(e.ID).Calls)
		})
	}
}

// TestMalformedThenGood: an answer that is not a document goes back to
// the model with the problems (a QA remediation attempt), then a good one.
func TestMalformedThenGood(t *testing.T) {
	t.Parallel()
	for _, m := range []mode{{llm.ProviderAnthropic, false}, {llm.ProviderOpenAI, true}} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			var n atomic.Int32
			r := newRig(t, m, func(c *llmfake.Call) llmfake.Reply {
				if c.DocumentType == "project_discovery" && n.Add(1) == 1 {
					if m.provider == llm.ProviderOpenAI {
						return llmfake.Reply{Document: json.RawMessage(`{"title": "Discovery"}`)} // misses required fields
					}
					return llmfake.Reply{Text: "Here is my analysis: the clinic needs a booking system."}
				}
				return llmfake.Reply{Document: testDocument(t, c.DocumentType)}
			})
			e := r.start("malformed")
			r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance)
			steps, err := r.svc.ListSteps(context.Background(), e.ID)
			if err != nil {
				t.Fatal(err)
			}
			disc := steps[0]
			if disc.QAFailures != 1 || len(disc.Attempts) != 2 || disc.Attempts[0].Status != "qa_failed" || len(disc.Attempts[0].Problems) == 0 {
				t.Fatalf("discovery run %+v", disc)
			}
			calls := r.fake.Calls()
			if !strings.Contains(calls[1].Text, "validation_problems") || !strings.Contains(calls[1].Text, disc.Attempts[0].Problems[0]) {
				t.Errorf("the remediation request does not carry the problems %q", disc.Attempts[0].Problems)
			}
		})
	}
}

// TestRateLimitedThenSuccess: a 429 with Retry-After is retried after the
// delay the server asked for, within the same attempt.
func TestRateLimitedThenSuccess(t *testing.T) {
	t.Parallel()
	for _, m := range []mode{{llm.ProviderAnthropic, true}, {llm.ProviderOpenAI, false}} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var times []time.Time
			r := newRig(t, m, func(c *llmfake.Call) llmfake.Reply {
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
				if c.N == 1 {
					return llmfake.Reply{Status: 429, RetryAfter: "1"}
				}
				return llmfake.Reply{Document: testDocument(t, c.DocumentType)}
			})
			e := r.start("limited")
			r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance)
			mu.Lock()
			gap := times[1].Sub(times[0])
			mu.Unlock()
			if gap < time.Second {
				t.Errorf("retried after %s, the server asked for 1s", gap)
			}
			c := r.costs(e.ID)
			if len(c.Calls) != 3 || c.Calls[0].Status != combine.CallFailed || !strings.Contains(c.Calls[0].Error, "429") ||
				c.Calls[1].Status != combine.CallCompleted || c.Calls[1].Attempt != 1 || c.Calls[1].Seq != 2 {
				t.Fatalf("ledger %+v", c.Calls)
			}
			steps, _ := r.svc.ListSteps(context.Background(), e.ID)
			if len(steps[0].Attempts) != 1 {
				t.Errorf("the retry used a new attempt: %+v", steps[0].Attempts)
			}
			r.checkLedgerMatches(c.Calls)
		})
	}
}

// TestServerErrorsBeyondRetriesThenRetry: 500s beyond the retry budget
// fail the work item with a clear reason; a retry of the execution makes
// the step again and it completes.
func TestServerErrorsBeyondRetriesThenRetry(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	r := newRig(t, mode{llm.ProviderAnthropic, true}, func(c *llmfake.Call) llmfake.Reply {
		if !healthy.Load() {
			return llmfake.Reply{Status: 500}
		}
		return llmfake.Reply{Document: testDocument(t, c.DocumentType)}
	}, withWorker(func(c *llm.Config) { c.MaxRetries = 1 }))
	e := r.start("flaky")
	f := r.wait(e.ID, combine.StatusFailed)
	if !strings.Contains(f.Error, "failed 2 times") || !strings.Contains(f.Error, "500") || f.FailedStepPath != "project_discovery" {
		t.Fatalf("failed with %q at %q", f.Error, f.FailedStepPath)
	}
	if n := len(r.fake.Calls()); n != 2 {
		t.Errorf("%d calls, want 2 (one retry)", n)
	}
	healthy.Store(true)
	if _, err := r.svc.RetryExecution(admin, e.ID, "the provider is back"); err != nil {
		t.Fatal(err)
	}
	r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance)
	c := r.costs(e.ID)
	if c.Calls[2].Attempt != 2 || c.Calls[2].Status != combine.CallCompleted {
		t.Errorf("the retry's call %+v", c.Calls[2])
	}
	r.checkLedgerMatches(c.Calls)
}

// TestCancelAbortsTheCallInFlight: cancelling the execution closes the
// connection of the call in flight; the ledger records it.
func TestCancelAbortsTheCallInFlight(t *testing.T) {
	t.Parallel()
	for _, m := range []mode{{llm.ProviderAnthropic, true}, {llm.ProviderOpenAI, false}} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, m, func(c *llmfake.Call) llmfake.Reply { return llmfake.Reply{Hang: true} })
			e := r.start("cancel")
			deadline := time.Now().Add(30 * time.Second)
			for len(r.fake.Calls()) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := r.svc.CancelExecution(admin, e.ID); err != nil {
				t.Fatal(err)
			}
			for r.fake.ClosedEarly() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if r.fake.ClosedEarly() != 1 {
				t.Fatalf("the server saw %d connections closed mid-answer", r.fake.ClosedEarly())
			}
			for time.Now().Before(deadline) && r.scalar(`SELECT COUNT(*) FROM llm_calls WHERE status = 'failed'`) == 0 {
				time.Sleep(10 * time.Millisecond)
			}
			c := r.costs(e.ID)
			if len(c.Calls) != 1 || c.Calls[0].Status != combine.CallFailed || !strings.Contains(c.Calls[0].Error, "cancelled") {
				t.Errorf("ledger %+v", c.Calls)
			}
			if got := r.find(e.ID).Status; got != combine.StatusCancelled {
				t.Errorf("status %s", got)
			}
		})
	}
}

// crashAfterCall stands for a process that dies right after the LLM call
// completed, before the engine stored its result: the first Work returns
// an error after the worker finished (the ledger has the call).
type crashAfterCall struct {
	*llm.Worker
	crashed atomic.Bool
}

func (c *crashAfterCall) Work(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
	res, err := c.Worker.Work(ctx, t)
	if err == nil && c.crashed.CompareAndSwap(false, true) {
		return nil, errors.New("process killed before the result was stored")
	}
	return res, err
}

// TestCompletedCallIsNeverPaidTwice: the job worked again after the
// "crash" reuses the stored answer: the server counts one call, the
// ledger one call.
func TestCompletedCallIsNeverPaidTwice(t *testing.T) {
	t.Parallel()
	var wrapped *crashAfterCall
	r := newRig(t, mode{llm.ProviderOpenAI, true}, documents(t), func(o *rigOpts) {
		o.wrap = func(w *llm.Worker) combine.Worker { wrapped = &crashAfterCall{Worker: w}; return wrapped }
	})
	e := r.start("crash")
	r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance)
	if !wrapped.crashed.Load() {
		t.Fatal("the crash was not simulated")
	}
	disc := 0
	for _, c := range r.fake.Calls() {
		if c.DocumentType == "project_discovery" {
			disc++
		}
	}
	if disc != 1 {
		t.Errorf("the server got %d discovery calls, want 1", disc)
	}
	if n := r.scalar(`SELECT COUNT(*) FROM llm_calls WHERE execution_id = $1 AND step_path = 'project_discovery'`, e.ID); n != 1 {
		t.Errorf("the ledger has %d discovery calls, want 1", n)
	}
	r.checkLedgerMatches(r.costs(e.ID).Calls)
}

// TestBudgetStopsTheCallThenRetryAfterRaising: a call that could exceed
// the budget is not made; the execution fails saying so; after the budget
// is raised (a restart with a new setting), a retry completes the step.
func TestBudgetStopsTheCallThenRetryAfterRaising(t *testing.T) {
	t.Parallel()
	m := mode{llm.ProviderAnthropic, false}
	r := newRig(t, m, documents(t), withWorker(func(c *llm.Config) { c.BudgetUSD = 0.01 }))
	e := r.start("budget")
	f := r.wait(e.ID, combine.StatusFailed)
	if !strings.Contains(f.Error, "LLM_BUDGET_USD_PER_EXECUTION") || !strings.Contains(f.Error, "$0.0100") {
		t.Fatalf("failed with %q", f.Error)
	}
	if n := len(r.fake.Calls()); n != 0 {
		t.Fatalf("%d calls were made beyond the budget", n)
	}
	r.stop()
	r2 := newRig(t, m, nil, func(o *rigOpts) { o.db, o.fake, o.wfs = r.db, r.fake, r.wfs },
		withWorker(func(c *llm.Config) { c.BudgetUSD = 5 }))
	if _, err := r2.svc.RetryExecution(admin, e.ID, "budget raised"); err != nil {
		t.Fatal(err)
	}
	r2.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance)
	c := r2.costs(e.ID)
	if c.Totals.CostUSD <= 0 || c.Totals.CostUSD > 5 || len(c.Calls) != 2 {
		t.Errorf("costs %+v", c.Totals)
	}
}

// TestRequestsAreDeterministic: the same inputs give byte-identical
// requests (two executions of one project), and the recorded hash is the
// hash of those bytes.
func TestRequestsAreDeterministic(t *testing.T) {
	t.Parallel()
	for _, m := range []mode{{llm.ProviderAnthropic, true}, {llm.ProviderOpenAI, false}} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			// Two installations (two databases) run the same project with
			// the same inputs against one provider.
			r1 := newRig(t, m, documents(t))
			e1 := r1.start("same")
			r1.pendingAt(e1.ID, "epic_backlog", combine.WorkAcceptance)
			r2 := newRig(t, m, nil, func(o *rigOpts) { o.fake = r1.fake })
			e2 := r2.start("same")
			r2.pendingAt(e2.ID, "epic_backlog", combine.WorkAcceptance)
			calls := r1.fake.Calls()
			if len(calls) != 4 {
				t.Fatalf("%d calls", len(calls))
			}
			for i := range 2 {
				if a, b := calls[i].Body, calls[i+2].Body; !bytes.Equal(a, b) {
					n := 0
					for n < len(a) && n < len(b) && a[n] == b[n] {
						n++
					}
					t.Fatalf("call %d differs between the installations from byte %d: %.80q vs %.80q", i+1, n, a[n:], b[n:])
				}
			}
			h1, h2 := r1.costs(e1.ID).Calls[1].RequestHash, r2.costs(e2.ID).Calls[1].RequestHash
			if h1 != h2 || h1 == "" {
				t.Errorf("request hashes %q %q", h1, h2)
			}
			// The second installation's calls were served from the prompt cache.
			if c := r2.costs(e2.ID).Calls[0]; c.CacheReadTokens == 0 {
				t.Errorf("no cache read in an identical request: %+v", c)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
