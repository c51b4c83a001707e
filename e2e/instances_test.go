package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/testdb"
)

// TestTwoInstances runs two `combine serve` processes on one PostgreSQL
// database. Executions are started on both and driven through both (each
// request goes to the other instance than the last), so each instance
// runs steps of executions the other started. Mid-run one instance is
// killed with SIGKILL and not restarted: the other finishes every
// execution, taking over the killed one's jobs after the rescue window.
// Each step must run exactly once: one document version per (type,
// scope), one completion per step, gap-free event logs.
func TestTwoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	if !testdb.Postgres() {
		t.Skip("several instances share work on PostgreSQL only (set " + testdb.EnvPostgres + ")")
	}
	t.Parallel()
	env := newProcEnv(t, testdb.URL(t), runnerEnv...)
	env.cli("migrate")
	token := env.token("instances@example.com", "admin")
	a := env.startInstance("a", "RUNNER_INSTANCE_ID=a")
	b := env.startInstance("b", "RUNNER_INSTANCE_ID=b")
	ca, cb := newClient(t, a.URL, token), newClient(t, b.URL, token)

	// The control: one execution run on a alone, without interruption.
	control := ca.start("control")
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	if err := (&person{clients: []*client{ca}}).drive(cctx, []string{control.ID}); err != nil {
		t.Fatalf("the uninterrupted run: %v", err)
	}
	want := runSignature(t, ca, control.ID, "control")

	const executions = 6
	var ids []string
	projects := map[string]string{}
	for i := range executions {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		project := fmt.Sprintf("pair-%d", i+1)
		e := c.start(project)
		ids = append(ids, e.ID)
		projects[e.ID] = project
	}

	// Follow one execution started on a over a stream held by b, behind a
	// "load balancer" that sends reconnections to a once b is gone: events
	// written by either instance reach the stream, and the reconnection
	// resumes on the survivor with Last-Event-ID.
	var route atomic.Pointer[string]
	bURL := b.URL()
	route.Store(&bURL)
	follower := newClient(t, func() string { return *route.Load() }, token)
	sctx, scancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer scancel()
	type followed struct {
		evs []*combine.Event
		err error
	}
	streamed := make(chan followed, 1)
	go func() { evs, err := follower.follow(sctx, ids[0]); streamed <- followed{evs, err} }()

	p := &person{clients: []*client{ca, cb}}
	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Second)
	defer cancel()
	driven := make(chan error, 1)
	go func() { driven <- p.drive(ctx, ids) }()

	// Kill b once a third of the work is done (11 actions per execution).
	deadline := time.Now().Add(30 * time.Second)
	for p.Actions() < executions*11/3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ranOnB := stepsStarted(t, b)
	b.kill()
	aURL := a.URL()
	route.Store(&aURL)
	t.Logf("killed instance b after %d actions", p.Actions())
	p.mu.Lock()
	p.clients = []*client{ca}
	p.mu.Unlock()

	if err := <-driven; err != nil {
		t.Fatalf("driving the executions: %v\ninstance a log:\n%s", err, a.tail())
	}
	for _, id := range ids {
		checkCleanRun(t, ca, id, projects[id])
		if got := runSignature(t, ca, id, projects[id]); got != want {
			t.Errorf("execution %s differs from the uninterrupted run:\n got: %s\nwant: %s", id, got, want)
		}
	}
	f := <-streamed
	if f.err != nil {
		t.Fatalf("following %s across the kill of b: %v", ids[0], f.err)
	}
	checkEventLog(t, f.evs, combine.EventExecutionCompleted)
	checkStartedOnce(t, ca, ids)
	// Both instances moved executions on (steps started by the actions and
	// start jobs each one took), whichever instance started them.
	if ranOnA := stepsStarted(t, a); ranOnA == 0 || ranOnB == 0 {
		t.Fatalf("steps started: %v on a, %v on b; want both instances to run steps", ranOnA, ranOnB)
	} else {
		t.Logf("steps started: %v on a, %v on b before it was killed", ranOnA, ranOnB)
	}
}

// stepsStarted is how many step attempts an instance has opened, from
// its /metrics.
func stepsStarted(t *testing.T, in *instance) float64 {
	t.Helper()
	resp, err := http.Get(in.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, `combine_engine_events_total{type="step_started"}`) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v); err == nil {
			total += v
		}
	}
	return total
}

// checkStartedOnce asserts that no step instance was started twice for
// the same attempt: a job delivered twice (e.g. rescued from the killed
// instance) must not re-apply its step.
func checkStartedOnce(t *testing.T, c *client, ids []string) {
	t.Helper()
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		evs, err := c.follow(ctx, id)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, ev := range evs {
			if ev.Type != combine.EventStepStarted {
				continue
			}
			var d struct {
				StepPath string `json:"step_path"`
				Attempt  int    `json:"attempt"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
			k := fmt.Sprintf("%s#%d", d.StepPath, d.Attempt)
			if seen[k] {
				t.Errorf("execution %s: step %s attempt %d started twice", id, d.StepPath, d.Attempt)
			}
			seen[k] = true
		}
	}
}
