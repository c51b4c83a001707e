package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/llm"
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
	instanceID := runnerInstanceID(rc.InstanceID, a.cfg.Addr)
	worker, err := a.llmWorker(ctx, reg, instanceID)
	if err != nil {
		return err
	}
	srv.Engine.Costs = &llm.Costs{DB: a.db}
	var engineWorker combine.Worker
	if worker != nil {
		engineWorker, srv.Engine.Progress = worker, worker
	}
	svc, err := engine.New(engine.Config{
		DB: a.db, Workflows: reg, Logger: a.logger, Worker: engineWorker,
		InstanceID:  instanceID,
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

// llmWorker builds the LLM worker of LLM_PROVIDER (nil when none is
// configured: people do every step).
func (a *app) llmWorker(ctx context.Context, reg *workflow.Registry, instanceID string) (*llm.Worker, error) {
	c := a.cfg
	var key, base string
	switch c.LLMProvider {
	case "":
		return nil, nil
	case llm.ProviderAnthropic:
		key, base = c.AnthropicAPIKey, c.LLM.AnthropicBaseURL
	case llm.ProviderOpenAI:
		key, base = c.OpenAIAPIKey, c.OpenAIBaseURL
	}
	w, err := llm.New(llm.Config{
		DB: a.db, Provider: c.LLMProvider, Model: c.LLMModel, APIKey: key, BaseURL: base, Prices: c.LLM.Prices,
		Stream: c.LLM.Stream, MaxOutputTokens: int64(c.LLM.MaxOutputTokens), Concurrency: c.LLM.Concurrency,
		MaxRetries: c.LLM.MaxRetries, RetryMaxWait: c.LLM.RetryMaxWait, RequestTimeout: c.LLM.RequestTimeout,
		BudgetUSD: c.LLM.BudgetUSD, ClarificationSchema: reg.ClarificationSchema(), InstanceID: instanceID,
		DocumentNames: func(workflowID, docType string) string {
			if wf, err := reg.FindWorkflow(context.WithoutCancel(ctx), workflowID); err == nil && wf.DocumentTypes[docType].Name != "" {
				return wf.DocumentTypes[docType].Name
			}
			return docType
		},
		Logger: a.logger.With("component", "llm"), Registerer: a.reg,
	})
	if err != nil {
		return nil, err
	}
	a.logger.Info("LLM worker configured", "provider", c.LLMProvider, "model", w.Model(), "stream", c.LLM.Stream,
		"concurrency", c.LLM.Concurrency, "budget_usd_per_execution", c.LLM.BudgetUSD)
	return w, nil
}
