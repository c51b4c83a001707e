package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/workflow"
)

// wireEngine builds the workflow registry, the execution service and the
// runner, and plugs them into srv.
func (a *app) wireEngine(ctx context.Context, srv *server.Server) error {
	reg, err := workflow.Load(workflow.Options{Dir: a.cfg.WorkflowsDir})
	if err != nil {
		return fmt.Errorf("load workflow definitions: %w", err)
	}
	wfs, _ := reg.ListWorkflows(ctx)
	a.logger.Info("workflow definitions loaded", "count", len(wfs), "workflows_dir", a.cfg.WorkflowsDir)
	for _, w := range reg.Warnings() {
		a.logger.Warn("workflow definition not loaded", "detail", w)
	}
	srv.Engine.Workflows = reg

	notifier := a.eventNotifier()
	rc := a.cfg.Runner
	svc, err := engine.New(engine.Config{
		DB: a.db, Workflows: reg, Logger: a.logger,
		InstanceID:  runnerInstanceID(rc.InstanceID, a.cfg.Addr),
		Concurrency: rc.Concurrency, StepTimeout: rc.StepTimeout, RescueAfter: rc.RescueAfter, PollInterval: rc.PollInterval,
		IterationConcurrency: rc.IterationConcurrency, Audit: srv.Identity.Audit,
		OnEvent: notifier.Wake, Subscribe: notifier.Subscribe, Registerer: a.reg,
	})
	if err != nil {
		return err
	}
	srv.Engine.Executions, srv.Engine.Documents, srv.Engine.Events, srv.Engine.Steps = svc, svc, svc, svc
	srv.Engine.EventWaker = notifier
	srv.Engine.EventKeepalive, srv.Engine.EventPoll = a.cfg.EventsKeepalive, a.cfg.EventsPoll
	a.addEngineMigrations()
	a.background = append(a.background, svc)
	a.health.Register(health.Component{Name: "runner", Check: svc.Health})
	return nil
}

// runnerInstanceID is RUNNER_INSTANCE_ID, or the host name and listen
// port: stable across restarts of one instance, distinct between
// instances on one host.
func runnerInstanceID(configured, addr string) string {
	if configured != "" {
		return configured
	}
	host, _ := os.Hostname()
	if _, port, err := net.SplitHostPort(addr); err == nil {
		if port == "0" {
			// An ephemeral port says nothing stable: tell processes apart by pid.
			return fmt.Sprintf("%s:pid%d", host, os.Getpid())
		}
		return host + ":" + port
	}
	return host
}

// addEngineMigrations registers the job queue's own migrations (River's
// tables), applied after the schema by serve and by combine migrate.
func (a *app) addEngineMigrations() {
	a.migrators = append(a.migrators, func(ctx context.Context) error { return engine.Migrate(ctx, a.db) })
}
