package main

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/sqldb"
)

// background is a long-running component started with the server and
// stopped, after the HTTP drain, before the database closes.
type background interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// app holds the wired dependencies shared by serve and the admin commands.
type app struct {
	cfg    *config.Config
	logger *slog.Logger
	db     *sqldb.DB
	health *health.Checker
	reg    *prometheus.Registry

	// identity is the identity service, set by wireIdentity.
	identity *identity.Service
	// notifier is the process's LISTEN connection (see eventNotifier).
	notifier *events.Notifier

	// migrators run after the schema migrations (e.g. the job queue's own).
	migrators  []func(ctx context.Context) error
	background []background
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openApp opens the database and builds the shared parts. With serving
// set it also prepares metrics and health for the server.
func openApp(ctx context.Context, cfg *config.Config, logger *slog.Logger, serving bool) (*app, error) {
	db, err := sqldb.Open(ctx, cfg.DatabaseURL, cfg.DatabasePoolSize)
	if err != nil {
		return nil, err
	}
	a := &app{
		cfg:    cfg,
		logger: logger,
		db:     db,
		health: health.NewChecker(combine.Version, cfg.Environment),
		reg:    prometheus.NewRegistry(),
	}
	a.health.Logger = logger
	if serving {
		a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	a.registerHealth()
	return a, nil
}

// migrate applies the schema and every component's own migrations.
func (a *app) migrate(ctx context.Context) (int64, error) {
	v, err := a.db.Migrate(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range a.migrators {
		if err := m(ctx); err != nil {
			return 0, err
		}
	}
	return v, nil
}

func (a *app) close() {
	if err := a.db.Close(); err != nil {
		a.logger.Warn("closing database", "error", err)
	}
}

// registerHealth adds the foundation's components: the database and the
// schema migrations.
func (a *app) registerHealth() {
	for _, c := range health.Database(a.db) {
		a.health.Register(c)
	}
}
