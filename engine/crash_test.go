package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/engine/enginetest"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

const crashChildEnv = "ENGINE_CRASH_CHILD_DB"

// instantWorker writes a valid document at once: two epics, two stories.
type instantWorker struct{}

func (instantWorker) Name() string { return "instant" }

func (instantWorker) Work(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
	time.Sleep(time.Duration(100+rand.IntN(100)) * time.Millisecond) // widen the windows a kill can hit
	content := fmt.Sprintf(`{"title": %q, "epics": [{"id": "E1"}, {"id": "E2"}], "stories": [{"id": "S1"}, {"id": "S2"}]}`, t.Step.Path)
	return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(content)}}, nil
}

// runCrashChild is the process that gets killed: an engine with the
// instant worker, and a reviewer accepting every document that waits.
func runCrashChild(url string) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, url, 5)
	if err != nil {
		panic(err)
	}
	svc, err := engine.New(engine.Config{
		DB: db, Workflows: enginetest.NewWorkflows(&testing.T{}), Worker: instantWorker{}, InstanceID: "crash-child",
		PollInterval: 10 * time.Millisecond, Logger: discardLogger(),
	})
	if err != nil {
		panic(err)
	}
	if err := svc.Start(ctx); err != nil {
		panic(err)
	}

	for {
		list, _, err := svc.ListExecutions(ctx, combine.ExecutionFilter{Status: combine.StatusWaitingAcceptance, Limit: 100})
		if err == nil {
			for _, e := range list {
				_, _ = svc.DecideAcceptance(admin, e.ID, combine.Decision{Accepted: true})
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCrashRecovery SIGKILLs an engine process at random moments while
// executions run, 10 times, then lets a last process finish: every
// execution completes with exactly the documents of an uninterrupted run,
// no step applied twice, a gap-free log.
func TestCrashRecovery(t *testing.T) {
	if url := os.Getenv(crashChildEnv); url != "" {
		runCrashChild(url)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	db, err := sqldb.Open(ctx, url, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := engine.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	starter, err := engine.New(engine.Config{DB: db, Workflows: enginetest.NewWorkflows(t), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 16 {
		e, err := starter.StartExecution(admin, combine.StartExecution{WorkflowID: "tiny"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	spawn := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+url)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	completedSteps := func() int {
		var n int
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM step_runs WHERE status = 'completed'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Each process is killed at a random moment after it has completed a
	// step of its own, so every kill lands while work is in flight.
	for range 10 {
		at := completedSteps()
		cmd := spawn()
		for wait := time.Now().Add(10 * time.Second); completedSteps() == at && time.Now().Before(wait); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
	}
	before := completedSteps()
	t.Logf("%d of %d steps completed across 10 killed processes", before, 8*len(ids))
	if before == 0 || before == 8*len(ids) {
		t.Fatal("the kills did not land while work was in flight: the test proves nothing")
	}
	last := spawn()
	t.Cleanup(func() { _ = last.Process.Kill(); _ = last.Wait() })

	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for {
			e, err := starter.FindExecution(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if e.Status.Terminal() {
				if e.Status != combine.StatusCompleted {
					t.Fatalf("execution %s ended %s: %s", id, e.Status, e.Error)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("execution %s still %s at %+v", id, e.Status, e.CurrentStep)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, id := range ids {
		docs, total, err := starter.ListDocuments(ctx, combine.DocumentFilter{ExecutionID: id, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		// discovery, backlog, 2 story backlogs, 4 notes — one version each.
		if total != 8 {
			t.Fatalf("execution %s has %d documents, want 8", id, total)
		}
		for _, d := range docs {
			if d.Version != 1 || !d.IsLatest {
				t.Fatalf("document %s %s has version %d: a step was applied twice", d.DocumentType, d.ScopeID, d.Version)
			}
		}
		evs, err := starter.ListEvents(ctx, id, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		completed := 0
		for i, ev := range evs {
			if ev.Seq != int64(i+1) {
				t.Fatalf("event log of %s has a gap at %d", id, i+1)
			}
			if ev.Type == combine.EventStepCompleted {
				completed++
			}
		}
		if completed != 8 || evs[len(evs)-1].Type != combine.EventExecutionCompleted {
			t.Fatalf("execution %s: %d step_completed events, last %s", id, completed, evs[len(evs)-1].Type)
		}
	}
}
