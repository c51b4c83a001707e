package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/sse"
)

// The API shapes the tests read, straight from the domain types.
type (
	execution = combine.Execution
	document_ = combine.Document
)

// get fetches an execution.
func (c *client) execution(id string) *execution {
	c.t.Helper()
	var e execution
	c.must("GET", "/api/v1/executions/"+id, nil, http.StatusOK, &e)
	return &e
}

// start starts the built-in workflow for project.
func (c *client) start(project string) *execution {
	c.t.Helper()
	var e execution
	c.must("POST", "/api/v1/workflows/"+builtinWorkflow+"/executions", map[string]any{"project_id": project}, http.StatusCreated, &e)
	return &e
}

// waitFor polls the execution until it has status. A terminal status
// other than the one wanted fails the test at once.
func (c *client) waitFor(id string, status combine.ExecutionStatus) *execution {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e := c.execution(id)
		if e.Status == status {
			return e
		}
		if e.Status.Terminal() || time.Now().After(deadline) {
			c.t.Fatalf("execution %s: want %s, have:\n%s", id, status, fmtJSON(e))
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// item polls the execution until it has an open work item of kind for
// step in scope, and returns it.
func (c *client) item(id, step, scope, kind string) *combine.WorkItem {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e := c.execution(id)
		for _, it := range e.Pending {
			if it.StepID == step && it.ScopeID == scope && it.Kind == kind {
				return it
			}
		}
		if e.Status.Terminal() || time.Now().After(deadline) {
			c.t.Fatalf("execution %s: want %s at %s in %s, have:\n%s", id, kind, step, scope, fmtJSON(e))
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// submit delivers the document of an input work item.
func (c *client) submit(id string, it *combine.WorkItem, content any, want int) []byte {
	c.t.Helper()
	status, b, err := c.call(context.Background(), "POST", "/api/v1/executions/"+id+"/submissions",
		map[string]any{"step_path": it.StepPath, "attempt": it.Attempt, "title": it.StepID + " " + it.ScopeID, "content": content})
	if err != nil || status != want {
		c.t.Fatalf("submit %s: %d %s %v, want %d", it.StepPath, status, b, err, want)
	}
	return b
}

// decide decides on the document an acceptance work item waits on.
func (c *client) decide(id string, it *combine.WorkItem, accepted bool, comment string, want int) {
	c.t.Helper()
	c.must("POST", "/api/v1/executions/"+id+"/acceptance", map[string]any{"step_path": it.StepPath, "attempt": it.Attempt,
		"document_id": it.Document.DocumentID, "version": it.Document.Version, "accepted": accepted, "comment": comment}, want, nil)
}

// latestDocuments lists the latest documents of an execution.
func (c *client) latestDocuments(executionID string) []*document_ {
	c.t.Helper()
	var out struct {
		Documents []*document_ `json:"documents"`
		Total     int          `json:"total"`
	}
	c.must("GET", "/api/v1/documents?latest=true&limit=500&execution_id="+url.QueryEscape(executionID), nil, http.StatusOK, &out)
	if out.Total != len(out.Documents) {
		c.t.Fatalf("documents: total %d but %d listed", out.Total, len(out.Documents))
	}
	return out.Documents
}

// latestSet turns documents into the (type, scope, version) set.
func latestSet(docs []*document_) map[latestKey]bool {
	got := map[latestKey]bool{}
	for _, d := range docs {
		got[latestKey{d.DocumentType, d.ScopeID, d.Version}] = true
	}
	return got
}

func sameSet(t testing.TB, what string, got, want map[latestKey]bool) {
	t.Helper()
	for k := range want {
		if !got[k] {
			t.Errorf("%s: missing %+v", what, k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s: unexpected %+v", what, k)
		}
	}
}

// follow reads the execution's event stream until it ends, reconnecting
// with Last-Event-ID whenever the connection drops (as EventSource does;
// e.g. when the server is killed) until ctx ends, and returns every event
// received.
func (c *client) follow(ctx context.Context, id string) ([]*combine.Event, error) {
	var got []*combine.Event
	var last int64
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return got, fmt.Errorf("events: still reconnecting after %d events: %w", len(got), ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, "GET", c.base()+"/api/v1/executions/"+id+"/events", nil)
		if err != nil {
			return got, err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		if last > 0 {
			req.Header.Set("Last-Event-ID", fmt.Sprint(last))
		}
		resp, err := http.DefaultClient.Do(req) // no timeout: a stream is long
		if err != nil {
			continue // the server is down: retry until ctx ends
		}
		if resp.StatusCode == http.StatusNoContent {
			resp.Body.Close()
			return got, nil
		}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			resp.Body.Close()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return got, fmt.Errorf("events: status %d", resp.StatusCode)
		}
		r := sse.NewReader(resp.Body)
		for {
			m, err := r.Next()
			if err != nil {
				break // end of stream or a dropped connection: reconnect to find out
			}
			if m.Comment != "" {
				continue
			}
			var ev combine.Event
			if err := json.Unmarshal([]byte(m.Data), &ev); err != nil {
				resp.Body.Close()
				return got, fmt.Errorf("event data %q: %w", m.Data, err)
			}
			if m.ID != fmt.Sprint(ev.Seq) || m.Event != ev.Type {
				resp.Body.Close()
				return got, fmt.Errorf("event framing id=%s event=%s does not match its data %s", m.ID, m.Event, m.Data)
			}
			got = append(got, &ev)
			last = ev.Seq
		}
		resp.Body.Close()
	}
}

// checkEventLog asserts that events are gap-free from seq 1 and end with
// the terminal event want; only a retry may follow an execution_failed.
func checkEventLog(t testing.TB, evs []*combine.Event, want string) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: the log has a gap or a duplicate", i+1, ev.Seq)
		}
		retried := ev.Type == combine.EventExecutionFailed && i+1 < len(evs) && evs[i+1].Type == combine.EventExecutionRetried
		if combine.IsTerminalEvent(ev.Type) && i != len(evs)-1 && !retried {
			t.Fatalf("terminal event %s at seq %d is not the last", ev.Type, ev.Seq)
		}
	}
	if got := evs[len(evs)-1].Type; got != want {
		t.Fatalf("last event is %s, want %s", got, want)
	}
	if evs[0].Type != combine.EventExecutionStarted {
		t.Fatalf("first event is %s, want %s", evs[0].Type, combine.EventExecutionStarted)
	}
}
