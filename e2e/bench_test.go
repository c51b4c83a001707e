package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/workflow"
)

// benchWorkflow is three production steps in a row, each reading the
// previous document; every document must match the discovery schema.
const benchWorkflow = `{
  "schema_version": "workflow.v1", "workflow_id": "bench_three_steps", "revision": "1",
  "effective_date": "2026-11-27", "name": "Three steps (benchmark)",
  "scopes": {"project": {"parent": null}},
  "document_types": {
    "first": {"name": "First", "scope": "project", "schema": "project_discovery.v1"},
    "second": {"name": "Second", "scope": "project", "schema": "project_discovery.v1"},
    "third": {"name": "Third", "scope": "project", "schema": "project_discovery.v1"}
  },
  "steps": [
    {"step_id": "one", "role": "business_analyst", "task_prompt": "project_discovery.v1", "produces": "first", "scope": "project"},
    {"step_id": "two", "role": "business_analyst", "task_prompt": "project_discovery.v1", "produces": "second", "scope": "project",
      "inputs": [{"doc_type": "first", "scope": "project"}]},
    {"step_id": "three", "role": "business_analyst", "task_prompt": "project_discovery.v1", "produces": "third", "scope": "project",
      "inputs": [{"doc_type": "second", "scope": "project"}]}
  ]
}`

// instantWorker writes a valid document at once.
type instantWorker struct{}

func (instantWorker) Name() string { return "instant" }

func (instantWorker) Work(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
	c, err := json.Marshal(document("project_discovery", task.Step.ScopeID, 1))
	if err != nil {
		return nil, err
	}
	return &combine.WorkResult{Document: &combine.Submission{Title: task.Step.StepID, Content: c}}, nil
}

// BenchmarkEngine measures executions per second and step latency (from
// step_started to step_completed, both stamped by the engine: queueing,
// the worker call, QA and the transition) for the three-step workflow done
// by an instant worker, with the runner settings of `combine serve`
// (RUNNER_* variables; their defaults when unset). One op is one execution.
//
//   - loaded: b.N executions are started at once; the clock stops when all
//     completed (throughput; latency includes waiting in the queue).
//   - sequential: one execution at a time (latency without load).
func BenchmarkEngine(b *testing.B) {
	b.Run("loaded", func(b *testing.B) { benchEngine(b, false) })
	b.Run("sequential", func(b *testing.B) { benchEngine(b, true) })
}

func benchEngine(b *testing.B, sequential bool) {
	ctx := context.Background()
	svc := benchService(b)
	actx := combine.NewContextWithAuth(ctx, &combine.AuthContext{UserID: "usr_bench", Roles: []string{combine.RoleAdmin},
		Permissions: combine.PermissionsForRoles([]string{combine.RoleAdmin})})

	b.ResetTimer()
	begin := time.Now()
	ids := make([]string, 0, b.N)
	for i := 0; i < b.N; i++ {
		e, err := svc.StartExecution(actx, combine.StartExecution{WorkflowID: "bench_three_steps", ProjectID: fmt.Sprintf("bench-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, e.ID)
		if sequential {
			benchWait(b, svc, len(ids))
		}
	}
	benchWait(b, svc, len(ids))
	elapsed := time.Since(begin)
	b.StopTimer()

	lat := stepLatencies(b, svc, ids)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "execs/s")
	b.ReportMetric(percentile(lat, 50), "step-p50-ms")
	b.ReportMetric(percentile(lat, 99), "step-p99-ms")
}

// benchService is an engine with the instant worker and the default
// runner settings, on a fresh database, running.
func benchService(b *testing.B) *engine.Service {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bench.json"), []byte(benchWorkflow), 0o600); err != nil {
		b.Fatal(err)
	}
	wfs, err := workflow.Load(workflow.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	// The runner settings of `combine serve`: RUNNER_* from the
	// environment, the defaults when unset.
	cfg, err := config.Load(config.FromEnvironment())
	if err != nil {
		b.Fatal(err)
	}
	rc := cfg.Runner
	return newBenchEngine(b, wfs, instantWorker{}, func(c *engine.Config) {
		c.Concurrency, c.StepTimeout, c.RescueAfter, c.PollInterval = rc.Concurrency, rc.StepTimeout, rc.RescueAfter, rc.PollInterval
	})
}

// newBenchEngine starts an engine on a fresh database with the workflows
// and worker; mod adjusts its configuration.
func newBenchEngine(b *testing.B, wfs *workflow.Registry, worker combine.Worker, mod func(*engine.Config)) *engine.Service {
	ctx := context.Background()
	db := testdb.Open(b)
	cfg := engine.Config{DB: db, Workflows: wfs, Worker: worker, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), InstanceID: "bench"}
	mod(&cfg)
	svc, err := engine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := engine.Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Stop(context.Background()) })
	return svc
}

// benchWait waits until n executions completed; a failed one is fatal.
func benchWait(b *testing.B, svc *engine.Service, n int) {
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		_, done, err := svc.ListExecutions(ctx, combine.ExecutionFilter{Status: combine.StatusCompleted, Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		if done >= n {
			return
		}
		if _, failed, _ := svc.ListExecutions(ctx, combine.ExecutionFilter{Status: combine.StatusFailed, Limit: 1}); failed > 0 {
			b.Fatalf("%d executions failed", failed)
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d executions completed", done, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stepLatencies pairs each step_started with its step_completed.
func stepLatencies(b *testing.B, svc *engine.Service, ids []string) []float64 {
	var out []float64
	for _, id := range ids {
		evs, err := svc.ListEvents(context.Background(), id, 0, 1000)
		if err != nil {
			b.Fatal(err)
		}
		started := map[string]time.Time{}
		for _, ev := range evs {
			var d struct {
				StepPath string `json:"step_path"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				b.Fatal(err)
			}
			switch ev.Type {
			case combine.EventStepStarted:
				started[d.StepPath] = ev.Time
			case combine.EventStepCompleted:
				out = append(out, float64(ev.Time.Sub(started[d.StepPath]).Microseconds())/1000)
			}
		}
	}
	if len(out) != 3*len(ids) {
		b.Fatalf("%d step latencies for %d executions of 3 steps", len(out), len(ids))
	}
	return out
}

// percentile returns the p-th percentile (nearest rank) of xs.
func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
