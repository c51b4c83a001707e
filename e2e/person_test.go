package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/thecombine/combine"
)

// person is a client that drives executions of the built-in workflow to
// completion the way a diligent team would: whatever an execution waits
// for, it submits the document (always the same content for a given type
// and scope), answers the questions or accepts. It tolerates a server
// that is down (connection errors), restarting (503) or ahead of it (409:
// the state moved on), and fails only on what no run should see.
type person struct {
	mu      sync.Mutex
	clients []*client // round-robin: one per instance it may talk to
	next    int
	actions int
}

// act looks at execution id once and does what it waits for. It reports
// whether the execution is completed.
func (p *person) act(ctx context.Context, id string) (bool, error) {
	p.mu.Lock()
	c := p.clients[p.next%len(p.clients)]
	p.next++
	p.mu.Unlock()
	status, b, err := c.call(ctx, "GET", "/api/v1/executions/"+id, nil)
	if err != nil || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		return false, nil // the server is down, starting or asks to slow down
	}
	if status != http.StatusOK {
		return false, fmt.Errorf("GET execution %s: %d %s", id, status, b)
	}
	var e execution
	if err := json.Unmarshal(b, &e); err != nil {
		return false, err
	}
	switch e.Status {
	case combine.StatusCompleted:
		return true, nil
	case combine.StatusFailed, combine.StatusCancelled:
		return false, fmt.Errorf("execution %s ended %s: %s", id, e.Status, e.Error)
	}
	if len(e.Pending) == 0 {
		return false, nil // pending or running: the runner's turn
	}
	// One action per look, always on the first open item: the same run
	// gives the same sequence of actions, so runs can be compared.
	path, body := actionFor(e.Pending[0])
	status, b, err = c.call(ctx, "POST", "/api/v1/executions/"+id+path, body)
	switch {
	case err != nil, status == http.StatusOK, status == http.StatusConflict, status == http.StatusTooManyRequests, status >= 500:
		// Down, done, or overtaken: the next look tells which. A request
		// cut by a kill either committed entirely or not at all.
		if err == nil && status == http.StatusOK {
			p.mu.Lock()
			p.actions++
			p.mu.Unlock()
		}
		return false, nil
	}
	return false, fmt.Errorf("POST %s on %s: %d %s", path, id, status, b)
}

// actionFor is what a diligent person does for a work item: submit the
// document (the same content for a given type and scope), answer the
// questions, or accept. It returns the action's path and body.
func actionFor(it *combine.WorkItem) (string, map[string]any) {
	switch it.Kind {
	case combine.WorkAcceptance:
		return "/acceptance", map[string]any{"step_path": it.StepPath, "attempt": it.Attempt,
			"document_id": it.Document.DocumentID, "version": it.Document.Version, "accepted": true, "comment": "ok"}
	case combine.WorkClarification:
		answers := map[string]string{}
		for _, q := range it.Questions {
			answers[q.ID] = "answer to " + q.ID
		}
		return "/clarification", map[string]any{"step_path": it.StepPath, "attempt": it.Attempt, "answers": answers}
	}
	return "/submissions", map[string]any{"step_path": it.StepPath, "attempt": it.Attempt,
		"title": it.StepID + " " + it.ScopeID, "content": document(it.DocumentType, it.ScopeID, 1)}
}

// drive acts on every execution until all are completed, ctx ends, or an
// error; done receives the result.
func (p *person) drive(ctx context.Context, ids []string) error {
	left := map[string]bool{}
	for _, id := range ids {
		left[id] = true
	}
	for len(left) > 0 {
		for id := range left {
			ok, err := p.act(ctx, id)
			if err != nil {
				return err
			}
			if ok {
				delete(left, id)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d executions not completed: %w", len(left), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Actions is how many submissions and decisions the server took.
func (p *person) Actions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.actions
}
