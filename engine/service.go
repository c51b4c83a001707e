// Package engine runs workflow executions: the store of executions,
// steps, documents and events, the state machine with its gates
// (clarification, QA, acceptance, cancel), and the durable runner built
// on River, which survives kill -9 and shares work between instances on
// PostgreSQL.
package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// Config configures a Service. Zero values take the documented defaults.
type Config struct {
	DB        *sqldb.DB
	Workflows combine.WorkflowService
	// Worker does the steps; PersonWorker when nil.
	Worker combine.Worker
	Logger *slog.Logger
	Now    func() time.Time

	// InstanceID names this process in the queue (River's client id).
	InstanceID string
	// Concurrency is how many step jobs this instance works at once (10).
	Concurrency int
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
	met    *metrics
	// txEvents holds the event types of open transactions for metrics.
	txEvents txEvents

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

// withTx runs fn in one transaction that changes executionID, and wakes
// its event streams after commit.
func (s *Service) withTx(ctx context.Context, executionID string, fn func(tx *sql.Tx) error) error {
	var types []string
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		err := fn(tx)
		types = s.txEvents.take(tx)
		return err
	})
	if err != nil {
		return err
	}
	for _, t := range types {
		s.met.events.WithLabelValues(t).Inc()
	}
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(executionID)
	}
	return nil
}

// projectIDPattern is what a caller-chosen project id must look like.
var projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// StartExecution implements combine.ExecutionService.
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
	inputs := strings.TrimSpace(string(req.Inputs))
	if inputs == "" || inputs == "null" {
		inputs = "{}"
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(inputs), &obj); err != nil {
		return nil, combine.Errorf(combine.EINVALID, "inputs must be a JSON object")
	}
	now := s.now()
	e := &execRow{Execution: combine.Execution{
		ID: newID("exe"), WorkflowID: wf.ID, WorkflowRevision: wf.Revision, ProjectID: req.ProjectID,
		Inputs: json.RawMessage(inputs), Status: combine.StatusPending, CreatedBy: caller.UserID,
		CreatedAt: now, UpdatedAt: now,
	}}
	err = s.withTx(ctx, e.ID, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO executions (id, workflow_id, workflow_revision, project_id, inputs, status,
			created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
			e.ID, e.WorkflowID, e.WorkflowRevision, e.ProjectID, inputs, string(e.Status), e.CreatedBy, sqldb.Time(now)); err != nil {
			return fmt.Errorf("insert execution: %w", err)
		}
		return s.enqueue(ctx, tx, advanceArgs{ExecutionID: e.ID})
	})
	if err != nil {
		return nil, err
	}
	return &e.Execution, nil
}

// FindExecution implements combine.ExecutionService.
func (s *Service) FindExecution(ctx context.Context, id string) (*combine.Execution, error) {
	e, err := findExecution(ctx, s.db.R, id)
	if err != nil {
		return nil, err
	}
	return &e.Execution, nil
}

// ListExecutions implements combine.ExecutionService: newest first.
func (s *Service) ListExecutions(ctx context.Context, f combine.ExecutionFilter) ([]*combine.Execution, int, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.WorkflowID != "" {
		add("workflow_id = $%d", f.WorkflowID)
	}
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, 0, combine.Errorf(combine.EINVALID, "unknown status %q", f.Status)
		}
		add("status = $%d", string(f.Status))
	}
	if f.ProjectID != "" {
		add("project_id = $%d", f.ProjectID)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM executions`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count executions: %w", err)
	}
	limit, offset := pageOf(f.Limit, f.Offset)
	args = append(args, limit, offset)
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+executionColumns+` FROM executions`+cond+
		fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list executions: %w", err)
	}
	defer rows.Close()
	out := []*combine.Execution{}
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan execution: %w", err)
		}
		out = append(out, &e.Execution)
	}
	return out, total, rows.Err()
}
