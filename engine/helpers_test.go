package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/engine/enginetest"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
	"github.com/thecombine/combine/workflow"
)

// funcWorker is a worker scripted by the test.
type funcWorker struct {
	mu    sync.Mutex
	calls []*combine.Task
	fn    func(ctx context.Context, t *combine.Task) (*combine.WorkResult, error)
}

func (w *funcWorker) Name() string { return "scripted" }

func (w *funcWorker) Work(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
	w.mu.Lock()
	w.calls = append(w.calls, t)
	w.mu.Unlock()
	return w.fn(ctx, t)
}

func (w *funcWorker) tasks() []*combine.Task {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

type harness struct {
	t   *testing.T
	reg *prometheus.Registry
	db  *sqldb.DB
	svc *engine.Service
	wfs *workflow.Registry
}

type engineConfig = engine.Config

// waitLimit bounds a wait for a state the engine reaches in milliseconds
// on an idle machine; it is generous so that a machine loaded by other
// suites (and the race detector) slows a test down without failing it.
const waitLimit = 60 * time.Second

// newHarness starts an engine on a fresh database, with the real
// workflow registry (built-ins and "tiny") and worker (nil: people do
// every step).
func newHarness(t *testing.T, worker combine.Worker, mod ...func(*engineConfig)) *harness {
	t.Helper()
	db := testdb.Open(t)
	ctx := context.Background()
	if err := engine.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	wfs := enginetest.Registry(t)
	reg := prometheus.NewRegistry()
	cfg := engine.Config{
		DB: db, Workflows: wfs, Worker: worker, InstanceID: "test", Registerer: reg,
		Logger:       discardLogger(),
		PollInterval: 20 * time.Millisecond, CancelPoll: 50 * time.Millisecond, RetryDelay: 20 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	svc, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Stop(sctx)
	})
	return &harness{t: t, db: db, svc: svc, wfs: wfs, reg: reg}
}

// as returns a context authenticated as a user with roles.
func as(userID string, roles ...string) context.Context {
	return combine.NewContextWithAuth(context.Background(), &combine.AuthContext{
		UserID: userID, Roles: roles, Permissions: combine.PermissionsForRoles(roles),
	})
}

var (
	admin = as("usr_admin", "admin")
	op    = as("usr_op", "operator")
	pm    = as("usr_pm", "operator", "pm")
	ba    = as("usr_ba", "operator", "ba")
)

func (h *harness) start(project string) *combine.Execution {
	h.t.Helper()
	e, err := h.svc.StartExecution(admin, combine.StartExecution{WorkflowID: "tiny", ProjectID: project})
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

func (h *harness) find(id string) *combine.Execution {
	h.t.Helper()
	e, err := h.svc.FindExecution(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// wait polls until the execution reaches one of the statuses.
func (h *harness) wait(id string, want ...combine.ExecutionStatus) *combine.Execution {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		e := h.find(id)
		if slices.Contains(want, e.Status) {
			return e
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("execution %s is %s (pending %s, error %q), want %v", id, e.Status, describe(e.Pending), e.Error, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// item waits until the execution has an open work item at path of kind
// and returns it with the execution.
func (h *harness) item(id, path, kind string) (*combine.Execution, *combine.WorkItem) {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		e := h.find(id)
		for _, it := range e.Pending {
			if it.StepPath == path && it.Kind == kind {
				return e, it
			}
		}
		if e.Status.Terminal() || time.Now().After(deadline) {
			h.t.Fatalf("execution %s is %s (error %q) with pending %s; want %s at %s", id, e.Status, e.Error, describe(e.Pending), kind, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// paths waits until the pending work items are exactly want (in any
// order) and returns them by path.
func (h *harness) paths(id string, want ...string) map[string]*combine.WorkItem {
	h.t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(waitLimit)
	for {
		e := h.find(id)
		got := map[string]*combine.WorkItem{}
		var keys []string
		for _, it := range e.Pending {
			got[it.StepPath] = it
			keys = append(keys, it.StepPath)
		}
		slices.Sort(keys)
		if slices.Equal(keys, want) && len(e.Running) == 0 {
			return got
		}
		if e.Status.Terminal() || time.Now().After(deadline) {
			h.t.Fatalf("execution %s is %s (error %q) with pending %s; want %v", id, e.Status, e.Error, describe(e.Pending), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func describe(items []*combine.WorkItem) string {
	var parts []string
	for _, it := range items {
		parts = append(parts, fmt.Sprintf("%s#%d(%s)", it.StepPath, it.Attempt, it.Kind))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// submit delivers content for the open input item at path.
func (h *harness) submit(ctx context.Context, id, path, content string) *combine.Execution {
	h.t.Helper()
	_, it := h.item(id, path, combine.WorkInput)
	e, err := h.svc.SubmitDocument(ctx, id, combine.Submission{StepPath: path, Attempt: it.Attempt, Content: json.RawMessage(content)})
	if err != nil {
		h.t.Fatalf("submit %s: %v", path, err)
	}
	return e
}

// decide decides on the document the acceptance item at path waits on.
func (h *harness) decide(ctx context.Context, id, path string, accepted bool, comment string) *combine.Execution {
	h.t.Helper()
	_, it := h.item(id, path, combine.WorkAcceptance)
	e, err := h.svc.DecideAcceptance(ctx, id, combine.Decision{StepPath: path, Attempt: it.Attempt,
		DocumentID: it.Document.DocumentID, Version: it.Document.Version, Accepted: accepted, Comment: comment})
	if err != nil {
		h.t.Fatalf("decide %s: %v", path, err)
	}
	return e
}

// doc is a tiny-workflow document with a title and extra members.
func doc(title string, extra ...string) string {
	body := fmt.Sprintf(`{"title": %q`, title)
	for i := 0; i+1 < len(extra); i += 2 {
		body += fmt.Sprintf(`, %q: %s`, extra[i], extra[i+1])
	}
	return body + "}"
}

func (h *harness) events(id string) []string {
	h.t.Helper()
	evs, err := h.svc.ListEvents(context.Background(), id, 0, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			h.t.Fatalf("event %d has seq %d: the log has a gap", i, ev.Seq)
		}
		out = append(out, ev.Type)
	}
	return out
}

// count runs a COUNT(*) query.
func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.R.QueryRow(query, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func wantCode(t *testing.T, err error, code string) *combine.Error {
	t.Helper()
	if got := combine.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	e, _ := err.(*combine.Error)
	return e
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
