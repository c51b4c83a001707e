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
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/llm"
	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/workflow"
)

// The in-process tests wire the engine as `combine serve` does (identity
// for authentication, workflow registry, notifier, engine service with its
// River runner, HTTP server) behind httptest. Callers are real users with
// real personal access tokens.

// callers are the people of the in-process tests and their roles.
var callers = map[string][]string{
	"operator":  {combine.RoleOperator},
	"pm":        {combine.RoleOperator, "pm"},
	"architect": {combine.RoleOperator, "architect"},
	"ba":        {combine.RoleOperator, "ba"},
	"admin":     {combine.RoleAdmin},
	"viewer":    {combine.RoleViewer},
}

// inProcess is one engine instance behind an httptest server.
type inProcess struct {
	ts     *httptest.Server
	svc    *engine.Service
	ids    *identity.Service
	tokens map[string]string // caller name → token
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
	cfg, err := config.Load(config.FromMap(map[string]string{"SECRET_KEY": strings.Repeat("s", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(db, identity.OptionsFromConfig(cfg), logger)
	n := events.NewNotifier(db, logger)
	svc, err := engine.New(engine.Config{
		DB: db, Workflows: wfs, Worker: worker, Logger: logger, InstanceID: "e2e-" + t.Name(),
		PollInterval: 20 * time.Millisecond, OnEvent: n.Wake, Audit: ids,
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
	tokens := map[string]string{}
	for name, roles := range callers {
		u, _, err := ids.EnsureUser(ctx, combine.UserCreate{Email: name + "@example.com", Name: name, Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		_, tok, err := ids.CreateToken(ctx, u.ID, combine.TokenCreate{Name: "e2e"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = tok
	}
	srv := server.New(cfg, logger, health.NewChecker("e2e", "development"), prometheus.NewRegistry())
	srv.Authn = ids
	// Handler() refuses a server missing a dependency its routes call.
	srv.Identity = server.IdentityDeps{Login: ids, Users: ids, Sessions: ids, Tokens: ids, Links: ids, Audit: ids}
	srv.Engine = server.EngineDeps{
		Workflows: wfs, Executions: svc, Documents: svc, Events: svc, Steps: svc, Costs: &llm.Costs{DB: db},
		EventWaker: n, EventPoll: 100 * time.Millisecond, EventKeepalive: time.Second,
	}
	h, err := srv.Handler()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &inProcess{ts: ts, svc: svc, ids: ids, tokens: tokens}
}

// as returns a client calling the in-process server with a caller's token.
func (p *inProcess) as(t testing.TB, who string) *client {
	t.Helper()
	tok, ok := p.tokens[who]
	if !ok {
		t.Fatalf("no caller %q", who)
	}
	return newClient(t, func() string { return p.ts.URL }, tok)
}
