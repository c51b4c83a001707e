package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/testdb"
)

// runnerEnv makes the runner quick for process tests: a short poll, and a
// short rescue window so that a killed instance's jobs are taken over in
// seconds rather than the production default.
var runnerEnv = []string{
	"RUNNER_POLL_INTERVAL=50ms",
	"RUNNER_STEP_TIMEOUT=1s",
	"RUNNER_RESCUE_AFTER=3s",
}

// TestCrashRecovery starts executions on a real `combine serve`, drives
// them as a person would through the API, and kills the server with
// SIGKILL at random moments (at least ten times), restarting it each time
// on the same database. Every execution must end completed with exactly
// the documents of an uninterrupted run: each (type, scope) once, version
// 1, the submitted content; and a gap-free event log — the documents and
// the event sequence identical to a control execution run without kills.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	t.Parallel()
	env := newProcEnv(t, testdb.URL(t), runnerEnv...)
	env.cli("migrate")
	token := env.token("crash@example.com", "admin")
	srv := env.startInstance("serve")
	c := newClient(t, srv.URL, token)

	// The control: one execution run without interruption.
	control := c.start("control")
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	if err := (&person{clients: []*client{c}}).drive(cctx, []string{control.ID}); err != nil {
		t.Fatalf("the uninterrupted run: %v", err)
	}
	want := runSignature(t, c, control.ID, "control")

	seed := time.Now().UnixNano()
	t.Logf("kill schedule seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()

	// Rounds of executions until the server was killed at least ten times
	// while executions were in flight.
	const perRound = 4
	var ids []string
	projects := map[string]string{}
	kills, actions, rounds := 0, 0, 0
	type followed struct {
		id  string
		evs []*combine.Event
		err error
	}
	streamed := make(chan followed, 6)
	for round := 1; kills < 10; round++ {
		rounds = round
		if round > 6 {
			t.Fatalf("only %d kills in %d rounds", kills, round-1)
		}
		var batch []string
		for i := range perRound {
			project := fmt.Sprintf("crash-%d-%d", round, i+1)
			e := c.start(project)
			batch = append(batch, e.ID)
			projects[e.ID] = project
		}
		ids = append(ids, batch...)
		// A viewer follows the first execution of the round across the
		// kills, reconnecting with Last-Event-ID as EventSource does.
		go func(id string) { evs, err := c.follow(ctx, id); streamed <- followed{id, evs, err} }(batch[0])
		p := &person{clients: []*client{c}}
		driven := make(chan error, 1)
		go func() { driven <- p.drive(ctx, batch) }()
		var err error
	run:
		for {
			select {
			case err = <-driven:
				break run
			case <-time.After(time.Duration(20+rng.IntN(300)) * time.Millisecond):
				if kills < 10 {
					srv.restart()
					kills++
				}
			}
		}
		if err != nil {
			t.Fatalf("driving the executions: %v (after %d kills)\nserver log:\n%s", err, kills, srv.tail())
		}
		actions += p.Actions()
	}
	t.Logf("%d kills during %d executions, %d actions accepted", kills, len(ids), actions)
	for _, id := range ids {
		checkCleanRun(t, c, id, projects[id])
		if got := runSignature(t, c, id, projects[id]); got != want {
			t.Errorf("execution %s differs from the uninterrupted run:\n got: %s\nwant: %s", id, got, want)
		}
	}
	for range rounds {
		f := <-streamed
		if f.err != nil {
			t.Fatalf("following %s across the kills: %v", f.id, f.err)
		}
		checkEventLog(t, f.evs, combine.EventExecutionCompleted)
	}
}

// runSignature describes a completed run for comparison with another
// project's: every document version (type, scope, version, title,
// content) and the sequence of events (type and step), with the project
// id replaced by a placeholder.
func runSignature(t *testing.T, c *client, id, project string) string {
	t.Helper()
	var all struct {
		Documents []*document_ `json:"documents"`
	}
	c.must("GET", "/api/v1/documents?limit=500&execution_id="+url.QueryEscape(id), nil, http.StatusOK, &all)
	var lines []string
	for _, d := range all.Documents {
		var content any
		_ = json.Unmarshal(d.Content, &content)
		norm, _ := json.Marshal(content)
		lines = append(lines, fmt.Sprintf("doc %s %s v%d %q %s", d.DocumentType, d.ScopeID, d.Version, d.Title, norm))
	}
	slices.Sort(lines)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := c.follow(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		var d struct {
			StepPath string `json:"step_path"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		lines = append(lines, fmt.Sprintf("event %d %s %s", ev.Seq, ev.Type, d.StepPath))
	}
	return strings.ReplaceAll(strings.Join(lines, "\n"), project, "<project>")
}

// checkCleanRun asserts that a completed execution holds exactly the
// documents and events of an uninterrupted run by the person client.
func checkCleanRun(t *testing.T, c *client, id, project string) {
	t.Helper()
	e := c.execution(id)
	if e.Status != combine.StatusCompleted {
		t.Fatalf("execution %s is %s: %s", id, e.Status, fmtJSON(e))
	}
	var all struct {
		Documents []*document_ `json:"documents"`
	}
	c.must("GET", "/api/v1/documents?limit=500&execution_id="+url.QueryEscape(id), nil, http.StatusOK, &all)
	want := expectedLatest(project, nil)
	if len(all.Documents) != len(want) {
		t.Errorf("execution %s has %d document versions, want %d (one per type and scope)", id, len(all.Documents), len(want))
	}
	sameSet(t, "documents of "+id, latestSet(all.Documents), want)
	for _, d := range all.Documents {
		body, _ := json.Marshal(document(d.DocumentType, d.ScopeID, 1))
		if !jsonEqual(t, d.Content, body) || !d.IsLatest {
			t.Errorf("%s in %s v%d (latest %v): content %s, want %s", d.DocumentType, d.ScopeID, d.Version, d.IsLatest, d.Content, body)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := c.follow(ctx, id)
	if err != nil {
		t.Fatalf("events of %s: %v", id, err)
	}
	checkEventLog(t, evs, combine.EventExecutionCompleted)
	checkStepsOnce(t, id, evs, len(want))
}

// checkStepsOnce asserts that every step instance produced one document
// and completed once.
func checkStepsOnce(t *testing.T, id string, evs []*combine.Event, steps int) {
	t.Helper()
	completed := map[string]int{}
	produced := 0
	for _, ev := range evs {
		switch ev.Type {
		case combine.EventStepCompleted:
			var d struct {
				StepPath string `json:"step_path"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil || d.StepPath == "" {
				t.Fatalf("step_completed without a step_path: %s", ev.Data)
			}
			completed[d.StepPath]++
		case combine.EventDocumentProduced:
			produced++
		}
	}
	if produced != steps || len(completed) != steps {
		t.Errorf("execution %s: %d documents produced and %d distinct steps completed, want %d each", id, produced, len(completed), steps)
	}
	for path, n := range completed {
		if n != 1 {
			t.Errorf("execution %s: step %q completed %d times", id, path, n)
		}
	}
}
