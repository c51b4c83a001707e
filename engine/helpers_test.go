package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/engine/enginetest"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
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
	wfs *enginetest.Workflows
}

// newHarness starts an engine on a fresh database with worker (nil: the
// person worker).
func newHarness(t *testing.T, worker combine.Worker, mod ...func(*engineConfig)) *harness {
	t.Helper()
	db := testdb.Open(t)
	ctx := context.Background()
	if err := engine.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	wfs := enginetest.NewWorkflows(t)
	reg := prometheus.NewRegistry()
	cfg := engine.Config{
		DB: db, Workflows: wfs, Worker: worker, InstanceID: "test", Registerer: reg,
		Logger:       discardLogger(),
		PollInterval: 20 * time.Millisecond, CancelPoll: 50 * time.Millisecond,
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

var admin = as("usr_admin", "admin")

func (h *harness) start(project string) *combine.Execution {
	h.t.Helper()
	e, err := h.svc.StartExecution(admin, combine.StartExecution{WorkflowID: "tiny", ProjectID: project})
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// wait polls until the execution reaches one of the statuses.
func (h *harness) wait(id string, want ...combine.ExecutionStatus) *combine.Execution {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		e, err := h.svc.FindExecution(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		if slices.Contains(want, e.Status) {
			return e
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("execution %s is %s (pending %+v, error %q), want %v", id, e.Status, e.Pending, e.Error, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStep waits for a waiting status at a given step path.
func (h *harness) waitStep(id string, status combine.ExecutionStatus, path string) *combine.Execution {
	h.t.Helper()
	e := h.wait(id, status, combine.StatusFailed, combine.StatusCompleted, combine.StatusCancelled)
	if e.Status != status || e.Pending == nil || e.Pending.StepPath != path {
		h.t.Fatalf("execution is %s at %+v (error %q), want %s at %s", e.Status, e.Pending, e.Error, status, path)
	}
	return e
}

func doc(title string, extra ...string) combine.Submission {
	body := fmt.Sprintf(`{"title": %q`, title)
	for i := 0; i+1 < len(extra); i += 2 {
		body += fmt.Sprintf(`, %q: %s`, extra[i], extra[i+1])
	}
	return combine.Submission{Content: json.RawMessage(body + "}")}
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

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := combine.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

type engineConfig = engine.Config

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
