package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// queueName is the River queue of the engine's jobs.
const queueName = "combine_engine"

// advanceArgs is the job that picks up a pending execution.
type advanceArgs struct {
	ExecutionID string `json:"execution_id"`
}

// Kind implements river.JobArgs.
func (advanceArgs) Kind() string { return "combine_execution_start" }

// InsertOpts: starting only touches the database; retries cover
// transient errors (a lost connection, a deadlock victim) and deliveries
// cut short by a crash, which also count as attempts.
func (advanceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueName, MaxAttempts: 10}
}

// workArgs is the job that works one attempt of one step instance.
type workArgs struct {
	ExecutionID string `json:"execution_id"`
	StepPath    string `json:"step_path"`
	Attempt     int    `json:"attempt"`
}

// Kind implements river.JobArgs.
func (workArgs) Kind() string { return "combine_step_attempt" }

// workerTries is how many deliveries of a step job may end in a worker
// error before the step fails. QA remediation is a new attempt (a new
// job), not a retry of this one.
const workerTries = 3

// InsertOpts: River's limit is above workerTries so that deliveries cut
// short by crashes (which River counts as attempts, and whose rescue
// discards a job past its limit) never strand an execution.
func (workArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueName, MaxAttempts: 10}
}

type advanceWorker struct {
	river.WorkerDefaults[advanceArgs]
	s *Service
}

// Timeout keeps every job kind inside the rescue window.
func (w *advanceWorker) Timeout(*river.Job[advanceArgs]) time.Duration { return w.s.cfg.StepTimeout }

func (w *advanceWorker) Work(ctx context.Context, job *river.Job[advanceArgs]) error {
	err := w.s.advance(ctx, job.Args.ExecutionID)
	w.s.setErr(err)
	return err
}

type stepWorker struct {
	river.WorkerDefaults[workArgs]
	s *Service
}

func (w *stepWorker) Timeout(*river.Job[workArgs]) time.Duration { return w.s.cfg.StepTimeout }

// NextRetry backs off quadratically from RetryDelay (1s, 4s, 9s…).
func (w *stepWorker) NextRetry(job *river.Job[workArgs]) time.Time {
	return time.Now().Add(w.s.cfg.RetryDelay * time.Duration(job.Attempt*job.Attempt))
}

func (w *stepWorker) Work(ctx context.Context, job *river.Job[workArgs]) error {
	err := w.s.runStep(ctx, job.Args, job.Attempt >= min(workerTries, job.MaxAttempts))
	w.s.setErr(err)
	return err
}

// driver returns the River driver for the database: riversqlite on the
// SQLite writer handle, database/sql (with a pgx listener for prompt
// wake-ups) on PostgreSQL. Both take *sql.Tx, so jobs are inserted in the
// transaction that changes the execution.
func driver(db *sqldb.DB) riverdriver.Driver[*sql.Tx] {
	if db.Dialect == sqldb.Postgres {
		return riverdatabasesql.NewWithPgxListener(db.W, db.Pool)
	}
	return riversqlite.New(db.W)
}

func (s *Service) buildRunner() error {
	workers := river.NewWorkers()
	river.AddWorker(workers, &advanceWorker{s: s})
	river.AddWorker(workers, &stepWorker{s: s})
	cfg := &river.Config{
		ID:                   s.cfg.InstanceID,
		Logger:               s.logger.With("component", "runner"),
		Queues:               map[string]river.QueueConfig{queueName: {MaxWorkers: s.cfg.Concurrency}},
		Workers:              workers,
		JobTimeout:           s.cfg.StepTimeout,
		RescueStuckJobsAfter: s.cfg.RescueAfter,
		FetchPollInterval:    s.cfg.PollInterval,
		FetchCooldown:        min(s.cfg.PollInterval, 50*time.Millisecond),
		// SQLite has one process by construction: poll the queue.
		PollOnly: s.db.Dialect == sqldb.SQLite,
	}
	client, err := river.NewClient(driver(s.db), cfg)
	if err != nil {
		return fmt.Errorf("engine: build runner: %w", err)
	}
	s.river = client
	return nil
}

// Migrate applies River's own migrations (its job tables).
func Migrate(ctx context.Context, db *sqldb.DB) error {
	m, err := rivermigrate.New(driver(db), nil)
	if err != nil {
		return fmt.Errorf("queue migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue migrations: %w", err)
	}
	return nil
}

// enqueue inserts a job in tx: it exists if and only if tx commits.
func (s *Service) enqueue(ctx context.Context, tx *Tx, args river.JobArgs) error {
	if _, err := s.river.InsertTx(ctx, tx.Tx, args, nil); err != nil {
		return fmt.Errorf("enqueue %s: %w", args.Kind(), err)
	}
	return nil
}

// Start rebuilds the work-item view of executions written by an older
// engine, recovers the jobs this instance was running when it died, then
// starts working the queue.
func (s *Service) Start(ctx context.Context) error {
	if err := s.rebuildViews(ctx); err != nil {
		return err
	}
	if _, err := s.jobs.recoverOrphans(ctx, s.cfg.InstanceID); err != nil {
		return err
	}
	if err := s.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start runner: %w", err)
	}
	s.mu.Lock()
	s.started = true
	if s.db.Dialect == sqldb.Postgres {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.stopRescue = cancel
		s.rescueDone = make(chan struct{})
		go s.rescueLoop(rctx)
	}
	s.mu.Unlock()
	return nil
}

// rescueLoop makes the jobs of a dead instance available again once they
// have been running longer than RescueAfter. River's own rescuer does the
// same, but only every 30 s and only on the elected leader (which may be
// the instance that died); checking every RescueAfter/4 on every instance
// keeps the take-over close to RUNNER_RESCUE_AFTER. A live instance's job
// ends (StepTimeout < RescueAfter) before it qualifies.
func (s *Service) rescueLoop(ctx context.Context) {
	defer close(s.rescueDone)
	t := time.NewTicker(max(s.cfg.RescueAfter/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.jobs.rescueStuck(ctx, s.cfg.RescueAfter)
			if err != nil && ctx.Err() == nil {
				s.setErr(err)
				s.logger.Warn("rescuing stuck jobs", "error", err)
			} else if n > 0 {
				s.logger.Info("rescued jobs of a stopped instance", "jobs", n)
			}
		}
	}
}

// Stop stops taking jobs and waits for the running ones; when ctx ends
// first, in-flight worker calls are cancelled (their jobs are redelivered).
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	started, stopRescue, rescueDone := s.started, s.stopRescue, s.rescueDone
	s.started, s.stopRescue = false, nil
	s.mu.Unlock()
	if !started {
		return nil
	}
	if stopRescue != nil {
		stopRescue()
		<-rescueDone
	}
	err := s.river.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.river.StopAndCancel(sctx)
	}
	return err
}

func (s *Service) setErr(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

// Health reports the runner for the health registry: whether it runs,
// the queue depth and the last error.
func (s *Service) Health(ctx context.Context) (map[string]any, error) {
	s.mu.Lock()
	started, lastErr := s.started, s.lastErr
	s.mu.Unlock()
	queued, running, err := s.jobs.depth(ctx)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"running": started, "queue_depth": queued, "jobs_running": running, "instance_id": s.cfg.InstanceID}
	if lastErr != nil {
		// /health is public: only a client-safe message; the log has the cause.
		d["last_error"] = combine.ErrorMessage(lastErr)
	}
	if !started {
		return d, errors.New("runner is not running")
	}
	return d, nil
}
