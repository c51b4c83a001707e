package e2e_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/workflow"
)

// The in-process tests wire the engine as `combine serve` does (workflow
// registry, notifier, engine service with its River runner, HTTP server)
// behind httptest, with callers identified by fixed bearer tokens.

// callers are the people of the in-process tests, by token.
var callers = map[string][]string{
	"operator":  {combine.RoleOperator},
	"pm":        {combine.RoleOperator, "pm"},
	"architect": {combine.RoleOperator, "architect"},
	"ba":        {combine.RoleOperator, "ba"},
	"admin":     {combine.RoleAdmin},
	"viewer":    {combine.RoleViewer},
}

type tokenAuthn struct{}

func (tokenAuthn) Authenticate(ctx context.Context, c combine.Credentials) (*combine.AuthContext, error) {
	roles, ok := callers[c.Bearer]
	if !ok {
		return nil, combine.Errorf(combine.EUNAUTHORIZED, "invalid credentials")
	}
	return &combine.AuthContext{
		UserID: "usr_" + c.Bearer, Email: c.Bearer + "@example.com", Name: c.Bearer, Roles: roles,
		Method: combine.AuthMethodPAT, TokenID: "tok_" + c.Bearer, Permissions: combine.PermissionsForRoles(roles),
	}, nil
}

// askingPerson is the person worker, except that the first attempt of one
// step asks the clarification questions a careful writer would.
type askingPerson struct{ step string }

func (askingPerson) Name() string { return "person" }

func (w askingPerson) Work(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
	if task.Step.StepID == w.step && task.Step.Attempt == 1 {
		return &combine.WorkResult{Questions: []combine.Question{
			{ID: "q1", Text: "Which markets come first?", Why: "It orders the epics.", Priority: "must", Blocking: true},
			{ID: "q2", Text: "Is mobile in scope?", Why: "It may add an epic.", Priority: "could", Blocking: false},
		}}, nil
	}
	return &combine.WorkResult{AwaitPerson: true}, nil
}

// inProcess is one engine instance behind an httptest server.
type inProcess struct {
	ts  *httptest.Server
	svc *engine.Service
}

func startInProcess(t *testing.T, worker combine.Worker) *inProcess {
	t.Helper()
	ctx := context.Background()
	db := testdb.Open(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	wfs, err := workflow.Load(workflow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := events.NewNotifier(db, logger)
	svc, err := engine.New(engine.Config{
		DB: db, Workflows: wfs, Worker: worker, Logger: logger, InstanceID: "e2e-" + t.Name(),
		PollInterval: 20 * time.Millisecond, OnEvent: n.Wake,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Stop(sctx)
		_ = n.Stop(sctx)
	})
	cfg, err := config.Load(config.FromMap(map[string]string{"SECRET_KEY": strings.Repeat("s", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(cfg, logger, health.NewChecker("e2e", "development"), prometheus.NewRegistry())
	srv.Authn = tokenAuthn{}
	srv.Engine = server.EngineDeps{
		Workflows: wfs, Executions: svc, Documents: svc, Events: svc,
		EventWaker: n, EventPoll: 100 * time.Millisecond, EventKeepalive: time.Second,
	}
	h, err := srv.Handler()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &inProcess{ts: ts, svc: svc}
}

// as returns a client calling the in-process server with a caller's token.
func (p *inProcess) as(t testing.TB, who string) *client {
	return newClient(t, func() string { return p.ts.URL }, who)
}
