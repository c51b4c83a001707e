// Package servertest builds servers for tests the way cmd/combine wires
// them: the real identity service, the real engine (with the event
// notifier) and, when asked, the login providers, on a fresh database
// (SQLite, or PostgreSQL with COMBINE_TEST_POSTGRES_URL). It is the one
// place tests build a server.Server, and Config is the one place they
// build a configuration from a map of variables.
package servertest

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
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
	"github.com/thecombine/combine/internal/testlog"
	"github.com/thecombine/combine/llm"
	"github.com/thecombine/combine/login"
	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/sqldb"
	"github.com/thecombine/combine/workflow"
)

// Defaults are the variables every test configuration starts from: a
// fixed secret key (no "generated key" warning) and a public URL.
var Defaults = map[string]string{
	"SECRET_KEY": strings.Repeat("k", 40),
	"PUBLIC_URL": "http://combine.test",
}

// Config loads a configuration from Defaults overlaid with env, failing
// the test when it is invalid.
func Config(t testing.TB, env map[string]string) *config.Config {
	t.Helper()
	vars := maps.Clone(Defaults)
	maps.Copy(vars, env)
	cfg, err := config.Load(config.FromMap(vars))
	if err != nil {
		t.Fatalf("servertest: config: %v", err)
	}
	return cfg
}

// Options choose what differs from the production wiring.
type Options struct {
	// Env are configuration variables on top of Defaults; Config then
	// adjusts the loaded configuration.
	Env    map[string]string
	Config func(*config.Config)
	// DB is the database (default: a fresh one per test).
	DB *sqldb.DB
	// Workflows is the workflow registry (default: the built-in ones).
	Workflows combine.WorkflowService
	// EventPoll is the event poller's interval (default: the
	// configuration's EVENTS_POLL_INTERVAL, else the notifier's default).
	EventPoll time.Duration
	// Identity adjusts the identity service's options.
	Identity func(*identity.Options)
	// RunEngine starts the engine's runner, so steps are worked; without
	// it the engine answers the API and nothing runs in the background.
	RunEngine bool
	// Engine adjusts the engine's configuration before it is built.
	Engine func(*engine.Config)
	// Login, when set, builds the sign-in providers from the wired server.
	Login func(s *Server) *login.Service
	// LogLevel of the captured log: DEBUG (default), INFO, WARN or ERROR.
	LogLevel string
}

// Server is a wired server and its parts.
type Server struct {
	*server.Server
	Cfg         *config.Config
	DB          *sqldb.DB
	IdentitySvc *identity.Service
	EngineSvc   *engine.Service
	Notifier    *events.Notifier
	Health      *health.Checker
	Registry    *prometheus.Registry
	// Logs holds the JSON log lines of the server and its services.
	Logs   *testlog.Buffer
	Logger *slog.Logger

	handler http.Handler
}

// New wires a server as cmd/combine does. The handler is built on the
// first call of Handler or Start, so tests may still adjust the server.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	ctx := context.Background()
	cfg := Config(t, o.Env)
	if o.Config != nil {
		o.Config(cfg)
	}
	logs := &testlog.Buffer{}
	level := slog.LevelDebug
	if o.LogLevel != "" {
		if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
			t.Fatalf("servertest: log level: %v", err)
		}
	}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))
	db := o.DB
	if db == nil {
		db = testdb.Open(t)
	}
	reg := prometheus.NewRegistry()
	checker := health.NewChecker("test", cfg.Environment)
	for _, c := range health.Database(db) {
		checker.Register(c)
	}
	srv := server.New(cfg, logger, checker, reg)
	s := &Server{Server: srv, Cfg: cfg, DB: db, Health: checker, Registry: reg, Logs: logs, Logger: logger}

	idOpts := identity.OptionsFromConfig(cfg)
	if o.Identity != nil {
		o.Identity(&idOpts)
	}
	s.IdentitySvc = identity.New(db, idOpts, logger)
	srv.Authn = s.IdentitySvc
	srv.Credentials = s.IdentitySvc
	srv.Hooks.Denied = s.IdentitySvc.RecordDenied
	srv.Identity = server.IdentityDeps{Login: s.IdentitySvc, Users: s.IdentitySvc, Sessions: s.IdentitySvc,
		Tokens: s.IdentitySvc, Links: s.IdentitySvc, Audit: s.IdentitySvc}

	wfs := o.Workflows
	if wfs == nil {
		reg, err := workflow.Load(workflow.Options{})
		if err != nil {
			t.Fatalf("servertest: workflows: %v", err)
		}
		wfs = reg
	}
	s.Notifier = events.NewNotifier(db, logger)
	s.Notifier.Poll = cfg.EventsPoll
	if o.EventPoll > 0 {
		s.Notifier.Poll = o.EventPoll
	}
	reg.MustRegister(s.Notifier.Collectors()...)
	ec := engine.Config{DB: db, Workflows: wfs, Logger: logger, PollInterval: 20 * time.Millisecond,
		OnEvent: s.Notifier.Wake, Subscribe: s.Notifier.Subscribe, Audit: s.IdentitySvc}
	if o.Engine != nil {
		o.Engine(&ec)
	}
	svc, err := engine.New(ec)
	if err != nil {
		t.Fatalf("servertest: engine: %v", err)
	}
	s.EngineSvc = svc
	srv.Engine = server.EngineDeps{Workflows: wfs, Executions: svc, Documents: svc, Events: svc, Steps: svc,
		Costs: &llm.Costs{DB: db}, EventWaker: s.Notifier, EventKeepalive: cfg.EventsKeepalive, EventPoll: cfg.EventsPoll}
	// The credential cache is fed as in production: by the notifier's
	// LISTEN connection on PostgreSQL, by the audit log on SQLite.
	cache := s.IdentitySvc.Cache()
	checker.Register(health.Component{Name: "cache", Check: cache.Check})
	s.Notifier.Listen(identity.NotifyChannel, cache)
	if err := s.Notifier.Start(ctx); err != nil {
		t.Fatalf("servertest: notifier: %v", err)
	}
	t.Cleanup(func() { _ = s.Notifier.Stop(context.Background()) })
	if err := cache.Start(ctx); err != nil {
		t.Fatalf("servertest: credential cache: %v", err)
	}
	t.Cleanup(func() { _ = cache.Stop(context.Background()) })
	for deadline := time.Now().Add(10 * time.Second); !cache.Live(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("servertest: the credential cache's invalidation feed did not come up")
		}
	}
	// The job queue's tables: starting an execution enqueues its job.
	if err := engine.Migrate(ctx, db); err != nil {
		t.Fatalf("servertest: engine migrations: %v", err)
	}
	if o.RunEngine {
		if err := svc.Start(ctx); err != nil {
			t.Fatalf("servertest: engine start: %v", err)
		}
		t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	}
	if o.Login != nil {
		srv.Login = server.LoginDeps{Service: o.Login(s)}
	}
	return s
}

// Handler builds (once) and returns the server's handler.
func (s *Server) Handler(t testing.TB) http.Handler {
	t.Helper()
	if s.handler == nil {
		h, err := s.Server.Handler()
		if err != nil {
			t.Fatalf("servertest: handler: %v", err)
		}
		s.handler = h
	}
	return s.handler
}

// Start serves the handler on a loopback port until the test ends.
func (s *Server) Start(t testing.TB) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(s.Handler(t))
	t.Cleanup(ts.Close)
	return ts
}

// User ensures the user email with roles.
func (s *Server) User(t testing.TB, email string, roles ...string) *combine.User {
	t.Helper()
	u, _, err := s.IdentitySvc.EnsureUser(context.Background(), combine.UserCreate{Email: email, Name: strings.Split(email, "@")[0], Roles: roles})
	if err != nil {
		t.Fatalf("servertest: user %s: %v", email, err)
	}
	return u
}

// Token issues a personal access token for u, optionally scoped, and
// returns its text.
func (s *Server) Token(t testing.TB, u *combine.User, scopes ...combine.Permission) string {
	t.Helper()
	_, text, err := s.IdentitySvc.CreateToken(context.Background(), u.ID, combine.TokenCreate{Name: "test", Scopes: scopes}, nil)
	if err != nil {
		t.Fatalf("servertest: token of %s: %v", u.Email, err)
	}
	return text
}

// Session signs u in with a one-time link and returns the cookie value.
func (s *Server) Session(t testing.TB, u *combine.User) string {
	t.Helper()
	ctx := context.Background()
	link, _, err := s.IdentitySvc.CreateLoginLink(ctx, u.Email)
	if err != nil {
		t.Fatalf("servertest: link for %s: %v", u.Email, err)
	}
	_, _, secret, err := s.IdentitySvc.LoginWithLink(ctx, link, combine.LoginRequest{})
	if err != nil {
		t.Fatalf("servertest: sign in %s: %v", u.Email, err)
	}
	return secret
}
