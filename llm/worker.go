// Package llm is the LLM station: a combine.Worker that writes a step's
// document (or asks clarification questions) through the official
// Anthropic or OpenAI SDK, with structured outputs, prompt caching,
// bounded retries, budgets and a durable cost ledger, and the
// combine.CostService that reads the ledger.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// Config configures a Worker. Zero values take the documented defaults.
type Config struct {
	DB *sqldb.DB
	// Provider is ProviderAnthropic or ProviderOpenAI.
	Provider string
	// Model is the default model (LLM_MODEL); empty: the provider's default.
	Model string
	// APIKey and BaseURL reach the provider (BaseURL empty: the SDK's).
	APIKey  string
	BaseURL string
	// Prices is the price table (nil: the built-in one).
	Prices *Prices
	// Stream asks for streamed answers (live progress); false uses plain
	// requests (for servers that do not stream).
	Stream bool
	// MaxOutputTokens bounds each answer (8192).
	MaxOutputTokens int64
	// Concurrency bounds the calls in flight in this process (4).
	Concurrency int
	// MaxRetries is how many times a failed call (429, 5xx, timeout,
	// broken connection) is retried within one attempt (3).
	MaxRetries int
	// RetryBase is the first backoff delay, doubled per retry (1s);
	// RetryMaxWait is the longest wait accepted, Retry-After included
	// (60s): a provider asking for longer fails the attempt.
	RetryBase    time.Duration
	RetryMaxWait time.Duration
	// RequestTimeout bounds one call (5m).
	RequestTimeout time.Duration
	// BudgetUSD caps one execution's LLM cost (0: no cap).
	BudgetUSD float64
	// ClarificationSchema is the clarification set's JSON schema.
	ClarificationSchema json.RawMessage
	// DocumentNames names document types per workflow for the prompts:
	// nil uses the type ids.
	DocumentNames func(workflowID, docType string) string
	// InstanceID names this process in the ledger.
	InstanceID string
	// ProgressEvery throttles live progress reports per call (250ms).
	ProgressEvery time.Duration
	// HTTPClient replaces the SDKs' HTTP client (tests).
	HTTPClient *http.Client
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// Sleep waits between retries (tests may shorten it).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Worker is an LLM station.
type Worker struct {
	cfg    Config
	prov   provider
	prices *Prices
	ledger *ledger
	sem    chan struct{}
	met    *metrics
	hub    *progressHub
	logger *slog.Logger
}

var (
	_ combine.Worker         = (*Worker)(nil)
	_ combine.ProgressSource = (*Worker)(nil)
)

// New builds a worker for cfg.Provider.
func New(cfg Config) (*Worker, error) {
	if cfg.DB == nil {
		return nil, errors.New("llm: DB is required")
	}
	if cfg.Prices == nil {
		cfg.Prices = BuiltinPrices()
	}
	if cfg.MaxOutputTokens <= 0 {
		cfg.MaxOutputTokens = 8192
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMaxWait <= 0 {
		cfg.RetryMaxWait = time.Minute
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Minute
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	w := &Worker{cfg: cfg, prices: cfg.Prices, ledger: &ledger{db: cfg.DB}, sem: make(chan struct{}, cfg.Concurrency),
		met: newMetrics(cfg.Registerer), hub: newProgressHub(), logger: cfg.Logger}
	switch cfg.Provider {
	case ProviderAnthropic:
		w.prov = newAnthropic(cfg.APIKey, cfg.BaseURL, cfg.HTTPClient)
		if w.cfg.Model == "" {
			w.cfg.Model = DefaultAnthropicModel
		}
	case ProviderOpenAI:
		w.prov = newOpenAI(cfg.APIKey, cfg.BaseURL, cfg.HTTPClient)
		if w.cfg.Model == "" {
			w.cfg.Model = DefaultOpenAIModel
		}
	default:
		return nil, fmt.Errorf("llm: unknown provider %q", cfg.Provider)
	}
	return w, nil
}

// Name implements combine.Worker.
func (w *Worker) Name() string { return "llm-" + w.prov.name() }

// Model is the default model.
func (w *Worker) Model() string { return w.cfg.Model }

// SubscribeProgress implements combine.ProgressSource.
func (w *Worker) SubscribeProgress(executionID string) (<-chan combine.Progress, func()) {
	return w.hub.SubscribeProgress(executionID)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Work implements combine.Worker: one attempt of a step. A call of this
// attempt that completed before (the process died before the engine
// stored the result) is reused; otherwise the request is made, retried on
// transient failures within the retry budget, and recorded in the ledger
// before the result is returned.
func (w *Worker) Work(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
	model := task.Model
	if model == "" {
		model = w.cfg.Model
	}
	price, priced := w.prices.Lookup(model)
	path, attempt := task.Step.Path, task.Step.Attempt

	if a, call, err := w.ledger.completedAnswer(ctx, task.ExecutionID, path, attempt); err != nil {
		return nil, err
	} else if a != nil {
		w.logger.InfoContext(ctx, "reusing the completed LLM call of this attempt", "execution_id", task.ExecutionID,
			"step_path", path, "attempt", attempt, "call_id", call.ID)
		w.met.observe(w.prov.name(), call.Model, "reused", Usage{}, 0, 0)
		res := interpret(a, task.Schema)
		res.RequestHash = call.RequestHash
		return res, nil
	}
	if n, err := w.ledger.interruptStale(ctx, task.ExecutionID, path, attempt, w.cfg.Now()); err != nil {
		return nil, err
	} else if n > 0 {
		w.logger.WarnContext(ctx, "LLM calls of this attempt were interrupted by a stopped process", "execution_id", task.ExecutionID,
			"step_path", path, "attempt", attempt, "calls", n)
	}

	docName := task.DocumentType
	if w.cfg.DocumentNames != nil {
		docName = w.cfg.DocumentNames(task.WorkflowID, task.DocumentType)
	}
	req, err := assemble(task, w.cfg.ClarificationSchema, docName)
	if err != nil {
		return nil, &combine.StepFailure{Reason: "the request cannot be assembled", Err: err}
	}
	var budgets []budget
	if w.cfg.BudgetUSD > 0 {
		budgets = append(budgets, budget{w.cfg.BudgetUSD, "LLM_BUDGET_USD_PER_EXECUTION"})
	}
	if task.BudgetUSD > 0 {
		budgets = append(budgets, budget{task.BudgetUSD, "the workflow's llm.budget_usd"})
	}
	if len(budgets) > 0 && !priced {
		return nil, &combine.StepFailure{Reason: fmt.Sprintf("model %q has no price in the price table, so the LLM budget cannot be enforced; add it to LLM_PRICES_FILE", model)}
	}
	// The worst case of one call: every input token uncached (estimated
	// high from the request's size) and the whole output allowance.
	size := len(req.RolePrompt) + len(req.TaskPrompt) + len(req.Context) + len(req.Feedback) + len(req.Instruction) +
		len(req.DocSchema) + len(req.ClarSchema) + len(anthropicContract)
	reserve := price.Cost(Usage{InputTokens: estimateTokens(size), OutputTokens: w.cfg.MaxOutputTokens})

	var last error
	for try := 0; ; try++ {
		res, err := w.callOnce(ctx, task, req, model, price, priced, reserve, budgets)
		if err == nil {
			return res, nil
		}
		var be *budgetError
		if errors.As(err, &be) {
			w.met.observe(w.prov.name(), model, "refused_budget", Usage{}, 0, 0)
			return nil, &combine.StepFailure{Reason: be.Error()}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err() // cancelled (the execution) or the runner's timeout
		}
		var ce *callError
		if !errors.As(err, &ce) {
			return nil, err // the ledger or the database: the runner retries the job
		}
		last = ce
		if !ce.retryable {
			return nil, &combine.StepFailure{Reason: fmt.Sprintf("the %s request was refused: %s", w.prov.name(), snippet(ce.Error())), Err: ce}
		}
		if try >= w.cfg.MaxRetries {
			return nil, &combine.StepFailure{Reason: fmt.Sprintf("the %s call failed %d times (LLM_MAX_RETRIES=%d); last error: %s",
				w.prov.name(), try+1, w.cfg.MaxRetries, snippet(last.Error())), Err: last}
		}
		wait := w.cfg.RetryBase << try
		if ce.retryAfter > 0 {
			wait = ce.retryAfter
		}
		if wait > w.cfg.RetryMaxWait {
			return nil, &combine.StepFailure{Reason: fmt.Sprintf("the %s call failed and the provider asks to wait %s, longer than LLM_RETRY_MAX_WAIT (%s); last error: %s",
				w.prov.name(), wait.Round(time.Second), w.cfg.RetryMaxWait, snippet(last.Error())), Err: last}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, &combine.StepFailure{Reason: fmt.Sprintf("the %s call failed and waiting %s to retry would pass the step timeout (RUNNER_STEP_TIMEOUT); last error: %s",
				w.prov.name(), wait.Round(time.Millisecond), snippet(last.Error())), Err: last}
		}
		w.logger.WarnContext(ctx, "LLM call failed; retrying", "execution_id", task.ExecutionID, "step_path", path, "attempt", attempt,
			"retry", try+1, "wait", wait.String(), "error", ce.Error())
		if err := w.cfg.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// callOnce makes one call: a ledger row reserved against the budgets, the
// provider's answer, the row completed with usage, cost and the answer.
func (w *Worker) callOnce(ctx context.Context, task *combine.Task, req *Request, model string, price Price, priced bool,
	reserve float64, budgets []budget) (*combine.WorkResult, error) {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-w.sem }()
	w.met.inflight.Inc()
	defer w.met.inflight.Dec()

	row := &callRow{LLMCall: combine.LLMCall{
		ID: newCallID(), ExecutionID: task.ExecutionID, WorkflowID: task.WorkflowID, StepPath: task.Step.Path,
		Attempt: task.Step.Attempt, Provider: w.prov.name(), Model: model, Prompts: req.Prompts, Priced: priced,
		StartedAt: w.cfg.Now(),
	}, ReservedUSD: reserve, InstanceID: w.cfg.InstanceID}
	if err := w.ledger.begin(ctx, row, budgets); err != nil {
		return nil, err
	}
	th := &throttle{hub: w.hub, every: w.cfg.ProgressEvery, now: w.cfg.Now, started: row.StartedAt,
		base: combine.Progress{ExecutionID: task.ExecutionID, StepPath: task.Step.Path, Attempt: task.Step.Attempt, Model: model}}
	spec := &callSpec{req: req, model: model, price: price, maxTokens: w.cfg.MaxOutputTokens, stream: w.cfg.Stream,
		progress: th.update, sent: &sentRequest{}}
	cctx, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
	res, err := w.prov.call(cctx, spec)
	cancel()
	end := w.cfg.Now()
	row.EndedAt, row.LatencyMS, row.RequestHash = &end, end.Sub(row.StartedAt).Milliseconds(), spec.sent.get()
	// The ledger is written even when the caller's context has ended (a
	// cancel): the call happened and may have been billed.
	lctx := context.WithoutCancel(ctx)
	if err != nil {
		row.Status, row.Error = combine.CallFailed, snippet(err.Error())
		if ctx.Err() != nil {
			row.Error = "cancelled: " + row.Error
		}
		if lerr := w.ledger.finish(lctx, row); lerr != nil {
			return nil, errors.Join(err, lerr)
		}
		w.met.observe(w.prov.name(), model, "failed", Usage{}, 0, end.Sub(row.StartedAt))
		if _, ok := err.(*callError); !ok && ctx.Err() == nil {
			err = &callError{err: err} // a request we could not even build: not retryable
		}
		return nil, err
	}
	if res.model != "" {
		row.Model = res.model
	}
	row.Status, row.Response = combine.CallCompleted, res.answer
	row.InputTokens, row.OutputTokens = res.usage.InputTokens, res.usage.OutputTokens
	row.CacheReadTokens, row.CacheWriteTokens = res.usage.CacheReadTokens, res.usage.CacheWriteTokens
	if p, ok := w.prices.Lookup(row.Model); ok {
		price, priced = p, true
	}
	if priced {
		row.CostUSD = price.Cost(res.usage)
	}
	if err := w.ledger.finish(lctx, row); err != nil {
		return nil, err
	}
	w.met.observe(w.prov.name(), row.Model, "completed", res.usage, row.CostUSD, end.Sub(row.StartedAt))
	th.done(res.usage)
	out := interpret(res.answer, task.Schema)
	out.RequestHash = row.RequestHash
	return out, nil
}
