// Package engine runs workflow executions: the store of executions,
// steps, documents and events, the state machine with its gates
// (clarification, QA, acceptance, cancel), and the durable runner built
// on River, which survives kill -9 and shares work between instances on
// PostgreSQL.
package engine

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// Config configures a Service. Zero values take the documented defaults.
type Config struct {
	DB        *sqldb.DB
	Workflows combine.WorkflowService
	// Worker does the steps; when nil (or PersonWorker) every step waits
	// for a person's submission.
	Worker combine.Worker
	// Audit records retries and refused decisions (none when nil).
	Audit  combine.AuditService
	Logger *slog.Logger
	Now    func() time.Time

	// InstanceID names this process in the queue (River's client id).
	InstanceID string
	// Concurrency is how many step jobs this instance works at once (10).
	Concurrency int
	// IterationConcurrency is how many work items one execution may have
	// open at once (4): the items of an iteration run side by side up to it.
	IterationConcurrency int
	// StepTimeout bounds one worker call (20s).
	StepTimeout time.Duration
	// RescueAfter is how long a job may stay running before another
	// instance takes it over (30s); must exceed StepTimeout.
	RescueAfter time.Duration
	// PollInterval is how often the queue is polled for jobs (20ms).
	PollInterval time.Duration
	// RetryDelay is the base of the backoff after a worker error (1s).
	RetryDelay time.Duration
	// CancelPoll is how often an in-flight worker call checks whether its
	// execution was cancelled on another instance (500ms).
	CancelPoll time.Duration

	// MaxQAAttempts bounds QA failures per step (3); MaxRejections bounds
	// rejections per step (3); MaxClarifications bounds question rounds
	// per step (3).
	MaxQAAttempts     int
	MaxRejections     int
	MaxClarifications int

	// Registerer receives the engine's metrics (none when nil).
	Registerer prometheus.Registerer

	// Subscribe, when set, wakes a watcher when events of an execution
	// may have been appended on any instance (the event notifier), so an
	// in-flight worker call notices a cancel from another instance at once
	// rather than at the next CancelPoll.
	Subscribe func(executionID string) (<-chan struct{}, func())

	// OnEvent is called after a transaction that appended events of
	// executionID commits (wakes event streams in this process).
	OnEvent func(executionID string)
}

// Service implements combine.ExecutionService, DocumentService and
// EventService, and runs executions.
type Service struct {
	cfg    Config
	db     *sqldb.DB
	wfs    combine.WorkflowService
	worker combine.Worker
	logger *slog.Logger
	now    func() time.Time
	river  *river.Client[*sql.Tx]
	jobs   riverJobs
	met    *metrics

	mu       sync.Mutex
	inflight map[string]map[*context.CancelFunc]struct{}
	lastErr  error
	started  bool
	// stopRescue ends the rescue loop (PostgreSQL); rescueDone is closed
	// when it has.
	stopRescue context.CancelFunc
	rescueDone chan struct{}
}

var (
	_ combine.ExecutionService = (*Service)(nil)
	_ combine.DocumentService  = (*Service)(nil)
	_ combine.EventService     = (*Service)(nil)
)

// New returns a Service with its runner built but not started.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Workflows == nil {
		return nil, errors.New("engine: DB and Workflows are required")
	}
	if cfg.Worker == nil {
		cfg.Worker = combine.PersonWorker{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Concurrency = defaultInt(cfg.Concurrency, 10)
	cfg.IterationConcurrency = defaultInt(cfg.IterationConcurrency, 4)
	cfg.MaxQAAttempts = defaultInt(cfg.MaxQAAttempts, 3)
	cfg.MaxRejections = defaultInt(cfg.MaxRejections, 3)
	cfg.MaxClarifications = defaultInt(cfg.MaxClarifications, 3)
	cfg.StepTimeout = defaultDur(cfg.StepTimeout, 20*time.Second)
	cfg.RescueAfter = defaultDur(cfg.RescueAfter, 30*time.Second)
	cfg.PollInterval = defaultDur(cfg.PollInterval, 20*time.Millisecond)
	cfg.CancelPoll = defaultDur(cfg.CancelPoll, 500*time.Millisecond)
	cfg.RetryDelay = defaultDur(cfg.RetryDelay, time.Second)
	if cfg.RescueAfter <= cfg.StepTimeout {
		return nil, fmt.Errorf("engine: rescue window %s must exceed the step timeout %s", cfg.RescueAfter, cfg.StepTimeout)
	}
	s := &Service{
		cfg: cfg, db: cfg.DB, wfs: cfg.Workflows, worker: cfg.Worker, logger: cfg.Logger, now: cfg.Now,
		inflight: map[string]map[*context.CancelFunc]struct{}{}, met: newMetrics(cfg.Registerer),
		jobs: riverJobs{db: cfg.DB, queue: queueName},
	}
	if err := s.buildRunner(); err != nil {
		return nil, err
	}
	return s, nil
}

func defaultInt(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func defaultDur(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

// projectIDPattern is what a caller-chosen project id must look like.
var projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// StartExecution implements combine.ExecutionService. Documents seeded
// in the inputs are checked against their type's schema and stored with
// the execution, in the same transaction.
func (s *Service) StartExecution(ctx context.Context, req combine.StartExecution) (*combine.Execution, error) {
	caller := combine.AuthFromContext(ctx)
	if caller == nil {
		return nil, combine.Errorf(combine.EUNAUTHORIZED, "authentication required")
	}
	wf, err := s.wfs.FindWorkflow(ctx, req.WorkflowID)
	if err != nil {
		return nil, err
	}
	if req.ProjectID == "" {
		req.ProjectID = newID("prj")
	} else if !projectIDPattern.MatchString(req.ProjectID) {
		return nil, combine.Errorf(combine.EINVALID, "project_id must be 1-100 letters, digits, '_', '.' or '-'")
	}
	inputs := bytes.TrimSpace(req.Inputs)
	if len(inputs) == 0 || string(inputs) == "null" {
		inputs = []byte("{}")
	}
	if !utf8.Valid(inputs) || bytes.IndexByte(inputs, 0) >= 0 {
		return nil, combine.Errorf(combine.EINVALID, "inputs must be valid UTF-8 text without NUL bytes")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(inputs, &obj); err != nil || obj == nil {
		return nil, combine.Errorf(combine.EINVALID, "inputs must be a JSON object")
	}
	e := &execRow{Execution: combine.Execution{
		ID: newID("exe"), WorkflowID: wf.ID, WorkflowRevision: wf.Revision, ProjectID: req.ProjectID,
		Inputs: json.RawMessage(inputs), Status: combine.StatusPending, CreatedBy: caller.UserID,
	}}
	seeds, err := s.seeds(ctx, wf, e, obj[seedKey])
	if err != nil {
		return nil, err
	}
	err = s.withTx(ctx, func(tx *Tx) error {
		e.CreatedAt, e.UpdatedAt = tx.Now, tx.Now
		if _, err := tx.ExecContext(ctx, `INSERT INTO executions (id, workflow_id, workflow_revision, project_id, inputs, status,
			pending, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, '[]', $7, $8, $8)`,
			e.ID, e.WorkflowID, e.WorkflowRevision, e.ProjectID, string(inputs), string(e.Status), e.CreatedBy, tx.now()); err != nil {
			return fmt.Errorf("insert execution: %w", err)
		}
		for _, d := range seeds {
			if err := s.insertDocument(ctx, tx, d, 0); err != nil {
				return err
			}
		}
		return s.enqueue(ctx, tx, advanceArgs{ExecutionID: e.ID})
	})
	if err != nil {
		return nil, err
	}
	e.setItems(nil)
	return &e.Execution, nil
}

// FindExecution implements combine.ExecutionService.
func (s *Service) FindExecution(ctx context.Context, id string) (*combine.Execution, error) {
	e, err := findExecution(ctx, s.db.R, id)
	if err != nil {
		return nil, err
	}
	return s.withSchemas(ctx, e), nil
}

// ListExecutions implements combine.ExecutionService: newest first.
func (s *Service) ListExecutions(ctx context.Context, f combine.ExecutionFilter) ([]*combine.Execution, int, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, 0, combine.Errorf(combine.EINVALID, "unknown status %q", f.Status)
	}
	q := (&listQuery{table: "executions"}).eq("workflow_id", f.WorkflowID).eq("status", string(f.Status)).eq("project_id", f.ProjectID)
	out := []*combine.Execution{}
	total, err := q.page(ctx, s.db.R, executionColumns, "created_at DESC, id DESC", f.Limit, f.Offset, func(rows *sql.Rows) error {
		e, err := scanExecution(rows)
		if err == nil {
			out = append(out, &e.Execution)
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}
