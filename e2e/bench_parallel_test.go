package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/workflow"
)

// slowWorker writes the built-in workflow's documents, taking a fixed
// time per step, like a fast LLM; its backlogs have stories stories per
// epic (and the usual two epics).
type slowWorker struct {
	delay   time.Duration
	stories int
}

func (slowWorker) Name() string { return "slow" }

func (w slowWorker) Work(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
	select {
	case <-time.After(w.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	d := document(task.DocumentType, task.Step.ScopeID, 1)
	if task.DocumentType == "story_backlog" {
		first := d["stories"].([]map[string]any)[0]
		var stories []map[string]any
		for i := range w.stories {
			s := map[string]any{}
			for k, v := range first {
				s[k] = v
			}
			s["id"] = fmt.Sprintf("S%d", i+1)
			stories = append(stories, s)
		}
		d["stories"] = stories
	}
	c, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return &combine.WorkResult{Document: &combine.Submission{Content: c}}, nil
}

// BenchmarkWorkflowParallel measures the wall time of the whole built-in
// workflow (2 epics × 4 stories: 15 steps) with a worker taking 200 ms
// per step and a reviewer who accepts each document the moment it waits,
// one item at a time (ITERATION_CONCURRENCY=1) and side by side (4, the
// default; 8 lets all eight stories run at once). One op is one execution.
//
// The critical path is 6 steps (discovery, epic backlog, architecture,
// epic architecture, story backlog, notes), so with every story at once
// the best possible speed-up is 15/6 = 2.5×; with four open items the
// eight stories take two rounds, so at most 15/7 ≈ 2.14×.
func BenchmarkWorkflowParallel(b *testing.B) {
	for _, limit := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", limit), func(b *testing.B) { benchWholeWorkflow(b, limit) })
	}
}

func benchWholeWorkflow(b *testing.B, limit int) {
	ctx := context.Background()
	wfs, err := workflow.Load(workflow.Options{})
	if err != nil {
		b.Fatal(err)
	}
	wake := make(chan string, 1024)
	svc := newBenchEngine(b, wfs, slowWorker{delay: 200 * time.Millisecond, stories: 4}, func(c *engine.Config) {
		c.IterationConcurrency = limit
		c.OnEvent = func(id string) {
			select {
			case wake <- id:
			default:
			}
		}
	})
	actx := combine.NewContextWithAuth(ctx, &combine.AuthContext{UserID: "usr_bench", Roles: []string{combine.RoleAdmin},
		Permissions: combine.PermissionsForRoles([]string{combine.RoleAdmin})})

	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		begin := time.Now()
		e, err := svc.StartExecution(actx, combine.StartExecution{WorkflowID: builtinWorkflow, ProjectID: fmt.Sprintf("bench-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		for done := false; !done; {
			select {
			case <-wake:
			case <-time.After(50 * time.Millisecond):
			}
			cur, err := svc.FindExecution(ctx, e.ID)
			if err != nil {
				b.Fatal(err)
			}
			switch cur.Status {
			case combine.StatusCompleted:
				done = true
			case combine.StatusFailed, combine.StatusCancelled:
				b.Fatalf("execution %s: %s", cur.Status, cur.Error)
			}
			for _, it := range cur.Pending {
				if it.Kind == combine.WorkAcceptance {
					_, _ = svc.DecideAcceptance(actx, e.ID, combine.Decision{StepPath: it.StepPath, Attempt: it.Attempt,
						DocumentID: it.Document.DocumentID, Version: it.Document.Version, Accepted: true})
				}
			}
		}
		total += time.Since(begin)
	}
	b.StopTimer()
	b.ReportMetric(total.Seconds()/float64(b.N), "s/workflow")
}
