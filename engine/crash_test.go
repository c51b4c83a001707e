package engine_test

import (
	"cmp"
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
	"github.com/thecombine/combine/workflow"
)

// Environment of a crash child: its database, instance id and rescue window.
const (
	crashChildEnv     = "ENGINE_CRASH_CHILD_DB"
	crashChildIDEnv   = "ENGINE_CRASH_CHILD_ID"
	crashChildRescEnv = "ENGINE_CRASH_CHILD_RESCUE"
	crashChildWfsEnv  = "ENGINE_CRASH_CHILD_WORKFLOWS"
)

// instantWorker writes a valid document quickly: two epics, two stories.
// With a db it records each call (attempt key, instance) in crash_calls.
type instantWorker struct {
	db       *sqldb.DB
	instance string
}

func (instantWorker) Name() string { return "instant" }

func (w instantWorker) Work(ctx context.Context, t *combine.Task) (*combine.WorkResult, error) {
	if w.db != nil {
		if _, err := w.db.W.ExecContext(ctx, `INSERT INTO crash_calls (attempt_key, instance, at_ms) VALUES ($1, $2, $3)`, t.IdempotencyKey, w.instance, time.Now().UnixMilli()); err != nil {
			return nil, err
		}
	}
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
	id := cmp.Or(os.Getenv(crashChildIDEnv), "crash-child")
	rescue, _ := time.ParseDuration(os.Getenv(crashChildRescEnv))
	// The parent wrote the test workflows (and removes them at the end).
	wfs, err := workflow.Load(workflow.Options{Dir: os.Getenv(crashChildWfsEnv)})
	if err != nil {
		panic(err)
	}
	cfg := engine.Config{
		DB: db, Workflows: wfs, Worker: instantWorker{db: db, instance: id}, InstanceID: id,
		PollInterval: 10 * time.Millisecond, Logger: discardLogger(),
	}
	if rescue > 0 {
		cfg.RescueAfter, cfg.StepTimeout = rescue, rescue/2
	}
	svc, err := engine.New(cfg)
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
				for _, it := range e.Pending {
					if it.Kind == combine.WorkAcceptance {
						_, _ = svc.DecideAcceptance(admin, e.ID, combine.Decision{StepPath: it.StepPath, Attempt: it.Attempt,
							DocumentID: it.Document.DocumentID, Version: it.Document.Version, Accepted: true})
					}
				}
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
	url, db, starter, ids := crashSetup(t, 16)
	spawn := func() *exec.Cmd { return spawnCrashChild(t, url) }
	completedSteps := func() int { return countCompletedSteps(t, db) }
	// Each process is killed at a random moment after it has completed a
	// step of its own, while several work items are in a worker's hands.
	inFlight := func() int {
		var n int
		// The step jobs this process is working (a new process makes the
		// ones its killed predecessor left running available at start).
		if err := db.R.QueryRow(`SELECT COUNT(*) FROM river_job WHERE state = 'running' AND kind = 'combine_step_attempt'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var atKill []int
	for range 10 {
		at := completedSteps()
		cmd := spawn()
		// Wait until this process has completed a step and has several
		// step jobs in hand — bounded generously: a loaded machine (and
		// the race detector) starts and runs processes slowly.
		for wait := time.Now().Add(waitLimit); completedSteps() == at && time.Now().Before(wait); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		n := inFlight()
		for wait := time.Now().Add(waitLimit); n < 2 && time.Now().Before(wait); n = inFlight() {
			time.Sleep(2 * time.Millisecond)
		}
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
		atKill = append(atKill, n)
	}
	t.Logf("work items in a worker's hands at each kill: %v", atKill)
	for _, n := range atKill {
		if n < 2 {
			t.Fatalf("a kill landed with %d items in flight (%v): the test wants several", n, atKill)
		}
	}
	before := completedSteps()
	t.Logf("%d of %d steps completed across 10 killed processes", before, 8*len(ids))
	if before == 0 || before == 8*len(ids) {
		t.Fatal("the kills did not land while work was in flight: the test proves nothing")
	}
	last := spawn()
	t.Cleanup(func() { _ = last.Process.Kill(); _ = last.Wait() })

	verifyCompleted(t, starter, ids)
}

// crashSetup creates a migrated database with n started executions.
func crashSetup(t *testing.T, n int) (string, *sqldb.DB, *engine.Service, []string) {
	t.Helper()
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
	if _, err := db.W.ExecContext(ctx, `CREATE TABLE crash_calls (attempt_key TEXT NOT NULL, instance TEXT NOT NULL, at_ms BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	starter, err := engine.New(engine.Config{DB: db, Workflows: enginetest.Registry(t), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range n {
		e, err := starter.StartExecution(admin, combine.StartExecution{WorkflowID: "tiny"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return url, db, starter, ids
}

// spawnCrashChild starts an engine process on url; env adds variables.
func spawnCrashChild(t *testing.T, url string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$")
	cmd.Env = append(append(os.Environ(), crashChildEnv+"="+url, crashChildWfsEnv+"="+enginetest.Dir(t)), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func countCompletedSteps(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.R.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM step_runs WHERE status = 'completed'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// verifyCompleted waits for every execution to complete and checks it
// has exactly the documents and log of an uninterrupted run.
func verifyCompleted(t *testing.T, starter *engine.Service, ids []string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(3 * waitLimit)
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
				t.Fatalf("execution %s still %s with pending %s, running %s", id, e.Status, describe(e.Pending), describe(e.Running))
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

// TestTwoInstancesShareTheWork runs two engine processes on one
// PostgreSQL database: both work, no attempt is worked twice while both
// live; one is SIGKILLed mid-work and the survivor finishes its
// executions after the rescue window.
func TestTwoInstancesShareTheWork(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("several instances need PostgreSQL (set " + testdb.EnvPostgres + ")")
	}
	t.Parallel()
	ctx := context.Background()
	url, db, starter, ids := crashSetup(t, 16)
	rescue := crashChildRescEnv + "=2s"
	a := spawnCrashChild(t, url, crashChildIDEnv+"=inst-a", rescue)
	b := spawnCrashChild(t, url, crashChildIDEnv+"=inst-b", rescue)
	t.Cleanup(func() { _ = b.Process.Kill(); _ = b.Wait() })
	for wait := time.Now().Add(waitLimit); countCompletedSteps(t, db) < 40; {
		if time.Now().After(wait) {
			t.Fatal("the instances made no progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = a.Process.Kill()
	_ = a.Wait()
	killedAt := time.Now()
	verifyCompleted(t, starter, ids)
	t.Logf("survivor finished %s after the kill", time.Since(killedAt).Round(time.Millisecond))

	rows, err := db.R.QueryContext(ctx, `SELECT attempt_key, instance, at_ms FROM crash_calls ORDER BY at_ms`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type call struct {
		inst string
		at   time.Time
	}
	byKey := map[string][]call{}
	perInstance := map[string]int{}
	for rows.Next() {
		var key, inst string
		var at int64
		if err := rows.Scan(&key, &inst, &at); err != nil {
			t.Fatal(err)
		}
		byKey[key] = append(byKey[key], call{inst, time.UnixMilli(at)})
		perInstance[inst]++
	}
	if perInstance["inst-a"] == 0 || perInstance["inst-b"] == 0 {
		t.Fatalf("calls per instance = %v: the work was not shared", perInstance)
	}
	// An attempt is worked again only after its first call can no longer
	// be running: the killed instance's attempts in flight, rescued by the
	// survivor once RescueAfter (2 s) has passed, and attempts whose step
	// timeout (1 s) expired — a machine loaded by other suites and the
	// race detector can make a 200 ms step take that long, and River then
	// retries the job. Two calls closer than the step timeout would be one
	// attempt worked twice at once.
	again, timedOut := 0, 0
	for key, calls := range byKey {
		for i := 1; i < len(calls); i++ {
			prev, c := calls[i-1], calls[i]
			if gap := c.at.Sub(prev.at); gap < time.Second-50*time.Millisecond {
				t.Fatalf("attempt %s worked by %s, then by %s %s later", key, prev.inst, c.inst, gap)
			}
			if prev.inst == "inst-a" && c.inst == "inst-b" && !prev.at.After(killedAt) && c.at.After(killedAt) {
				again++
			} else {
				timedOut++
			}
		}
	}
	if again > 10 {
		t.Fatalf("%d attempts worked twice, more than the killed instance had in flight", again)
	}
	t.Logf("calls per instance %v; %d attempts in flight on the killed instance were redone; %d worked again after a step timeout", perInstance, again, timedOut)
}
