package llm_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/engine/enginetest"
	"github.com/thecombine/combine/internal/llmfake"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/llm"
	"github.com/thecombine/combine/sqldb"
	"github.com/thecombine/combine/workflow"
)

const spd = "software_product_development"

// rig is a real engine whose steps an LLM worker does through the real
// SDK against a fake provider on loopback.
type rig struct {
	t      testing.TB
	db     *sqldb.DB
	wfs    *workflow.Registry
	svc    *engine.Service
	worker *llm.Worker
	fake   *llmfake.Server
}

// mode is one way of talking to a provider.
type mode struct {
	provider string
	stream   bool
}

func (m mode) String() string {
	if m.stream {
		return m.provider + "/stream"
	}
	return m.provider + "/plain"
}

var modes = []mode{{llm.ProviderAnthropic, true}, {llm.ProviderAnthropic, false}, {llm.ProviderOpenAI, true}, {llm.ProviderOpenAI, false}}

func fakeFor(t testing.TB, provider string, h llmfake.Handler) *llmfake.Server {
	if provider == llm.ProviderAnthropic {
		return llmfake.NewAnthropic(t, h)
	}
	return llmfake.NewOpenAI(t, h)
}

// newRig starts an engine with an LLM worker for m on a fresh database
// (or on db when given, with its fake), with cfg adjusting the worker.
func newRig(t testing.TB, m mode, h llmfake.Handler, opts ...func(*rigOpts)) *rig {
	t.Helper()
	o := &rigOpts{}
	for _, f := range opts {
		f(o)
	}
	r := &rig{t: t, db: o.db, fake: o.fake, wfs: o.wfs}
	if r.db == nil {
		r.db = testdb.Open(t)
		if err := engine.Migrate(context.Background(), r.db); err != nil {
			t.Fatal(err)
		}
	}
	if r.fake == nil {
		r.fake = fakeFor(t, m.provider, h)
	}
	if r.wfs == nil {
		r.wfs = enginetest.Registry(t)
	}
	cfg := llm.Config{
		DB: r.db, Provider: m.provider, APIKey: "test-key", BaseURL: r.fake.URL, Stream: m.stream, Concurrency: 4,
		MaxRetries: 2, RetryBase: 10 * time.Millisecond, ClarificationSchema: r.wfs.ClarificationSchema(),
		InstanceID: "test", Logger: quiet(), Registerer: prometheus.NewRegistry(), ProgressEvery: 10 * time.Millisecond,
	}
	if o.worker != nil {
		o.worker(&cfg)
	}
	w, err := llm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.worker = w
	var ew combine.Worker = w
	if o.wrap != nil {
		ew = o.wrap(w)
	}
	ecfg := engine.Config{
		DB: r.db, Workflows: r.wfs, Worker: ew, InstanceID: "test", Logger: quiet(), Registerer: prometheus.NewRegistry(),
		PollInterval: 20 * time.Millisecond, CancelPoll: 50 * time.Millisecond, RetryDelay: 20 * time.Millisecond,
		StepTimeout: 30 * time.Second, RescueAfter: time.Minute,
	}
	if o.engine != nil {
		o.engine(&ecfg)
	}
	svc, err := engine.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.svc.Stop(ctx)
}

type rigOpts struct {
	db     *sqldb.DB
	fake   *llmfake.Server
	wfs    *workflow.Registry
	worker func(*llm.Config)
	wrap   func(*llm.Worker) combine.Worker
	engine func(*engine.Config)
}

func withWorker(f func(*llm.Config)) func(*rigOpts) { return func(o *rigOpts) { o.worker = f } }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func as(userID string, roles ...string) context.Context {
	return combine.NewContextWithAuth(context.Background(), &combine.AuthContext{
		UserID: userID, Roles: roles, Permissions: combine.PermissionsForRoles(roles),
	})
}

var (
	admin     = as("usr_admin", "admin")
	pm        = as("usr_pm", "operator", "pm")
	architect = as("usr_arch", "operator", "architect")
	ba        = as("usr_ba", "operator", "ba")
)

// testDocument is the valid test document of a type of the built-in workflow.
func testDocument(t testing.TB, docType string) json.RawMessage {
	b, err := os.ReadFile(filepath.Join("..", "workflow", "testdata", "documents", docType+".json"))
	if err != nil {
		t.Fatalf("no test document for %q: %v", docType, err)
	}
	return b
}

// documents answers every call with the test document of its type.
func documents(t testing.TB) llmfake.Handler {
	return func(c *llmfake.Call) llmfake.Reply { return llmfake.Reply{Document: testDocument(t, c.DocumentType)} }
}

func (r *rig) start(project string) *combine.Execution {
	r.t.Helper()
	e, err := r.svc.StartExecution(admin, combine.StartExecution{WorkflowID: spd, ProjectID: project,
		Inputs: json.RawMessage(`{"brief": "A booking system for a small clinic."}`)})
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

func (r *rig) find(id string) *combine.Execution {
	e, err := r.svc.FindExecution(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// wait polls until the execution reaches one of the statuses.
func (r *rig) wait(id string, want ...combine.ExecutionStatus) *combine.Execution {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		e := r.find(id)
		if slices.Contains(want, e.Status) {
			return e
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("execution %s is %s (error %q, %d pending, %d running), want %v", id, e.Status, e.Error, len(e.Pending), len(e.Running), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pendingAt returns the open work item at path of kind, waiting for it.
func (r *rig) pendingAt(id, path, kind string) *combine.WorkItem {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		e := r.find(id)
		for _, it := range e.Pending {
			if it.StepPath == path && it.Kind == kind {
				return it
			}
		}
		if e.Status.Terminal() || time.Now().After(deadline) {
			r.t.Fatalf("execution %s is %s (error %q); no %s item at %s", id, e.Status, e.Error, kind, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) accept(ctx context.Context, id string, it *combine.WorkItem) {
	r.t.Helper()
	if _, err := r.svc.DecideAcceptance(ctx, id, combine.Decision{StepPath: it.StepPath, Attempt: it.Attempt,
		DocumentID: it.Document.DocumentID, Version: it.Document.Version, Accepted: true, Comment: "fine"}); err != nil {
		r.t.Fatalf("accept %s: %v", it.StepPath, err)
	}
}

// costs returns the execution's ledger.
func (r *rig) costs(id string) *combine.ExecutionCosts {
	r.t.Helper()
	c, err := (&llm.Costs{DB: r.db}).ExecutionCosts(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// checkLedgerMatches checks that the ledger's completed calls report
// exactly the tokens the fake server reported.
func (r *rig) checkLedgerMatches(calls []*combine.LLMCall) {
	r.t.Helper()
	var got llmfake.Usage
	for _, c := range calls {
		if c.Status != combine.CallCompleted {
			continue
		}
		got.Calls++
		got.InputTokens += c.InputTokens
		got.OutputTokens += c.OutputTokens
		got.CacheReadTokens += c.CacheReadTokens
		got.CacheWriteTokens += c.CacheWriteTokens
	}
	if want := r.fake.Reported(); got != want {
		r.t.Errorf("ledger totals %+v, the fake server reported %+v", got, want)
	}
}

func (r *rig) scalar(q string, args ...any) int64 {
	r.t.Helper()
	var n sql.NullInt64
	if err := r.db.R.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n.Int64
}
