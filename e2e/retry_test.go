package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/sse"
)

// TestRetryAFailedExecution: three refused discovery documents fail the
// execution; a viewer's stream ends with execution_failed; an operator
// retries; the failed item opens again as attempt 4 with a fresh budget;
// the run completes, and a stream read from the start carries the whole
// log — execution_failed, execution_retried, … execution_completed.
func TestRetryAFailedExecution(t *testing.T) {
	t.Parallel()
	p := startInProcess(t, nil)
	op, viewer := p.as(t, "operator"), p.as(t, "viewer")
	const project = "retry"
	e := op.start(project)
	for attempt := 1; attempt <= 3; attempt++ {
		it := op.item(e.ID, "project_discovery", project, combine.WorkInput)
		if it.Attempt != attempt {
			t.Fatalf("attempt %d open, want %d", it.Attempt, attempt)
		}
		op.submit(e.ID, it, invalidDocument("project_discovery", project), http.StatusBadRequest)
	}
	failed := op.waitFor(e.ID, combine.StatusFailed)
	if failed.FailedStepPath != "project_discovery" || len(failed.Pending) != 0 {
		t.Fatalf("failed execution: %s", fmtJSON(failed))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	evs, err := viewer.follow(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkEventLog(t, evs, combine.EventExecutionFailed)

	viewer.must("POST", "/api/v1/executions/"+e.ID+"/retry", map[string]any{}, http.StatusForbidden, nil)
	var retried execution
	op.must("POST", "/api/v1/executions/"+e.ID+"/retry", map[string]any{"comment": "the schema is in the docs now"}, http.StatusOK, &retried)
	if retried.Retries != 1 || retried.Status.Terminal() {
		t.Fatalf("retried: %s", fmtJSON(retried))
	}
	op.must("POST", "/api/v1/executions/"+e.ID+"/retry", nil, http.StatusConflict, nil)
	it := op.item(e.ID, "project_discovery", project, combine.WorkInput)
	if it.Attempt != 4 || it.AttemptsLeft != 3 || len(it.Problems) == 0 {
		t.Fatalf("the retried item: %s", fmtJSON(it))
	}
	if err := (&person{clients: []*client{p.as(t, "admin")}}).drive(ctx, []string{e.ID}); err != nil {
		t.Fatal(err)
	}
	evs, err = viewer.follow(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkEventLog(t, evs, combine.EventExecutionCompleted)
	// One stream from the start carries the whole log: the execution_failed
	// in its middle does not end it.
	req, _ := http.NewRequestWithContext(ctx, "GET", p.ts.URL+"/api/v1/executions/"+e.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+p.tokens["viewer"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r, n := sse.NewReader(resp.Body), 0
	for m, err := r.Next(); err == nil; m, err = r.Next() {
		if m.Comment == "" && m.Data != "" {
			n++
		}
	}
	if n != len(evs) {
		t.Fatalf("one stream delivered %d events, the log has %d", n, len(evs))
	}
	audit, _, err := p.ids.FindAudit(ctx, combine.AuditFilter{Action: combine.AuditExecutionRetry})
	if err != nil || len(audit) != 1 || audit[0].Target != "execution:"+e.ID || audit[0].Reason != "the schema is in the docs now" ||
		audit[0].Actor != "operator@example.com" {
		t.Fatalf("audit: %s (%v)", fmtJSON(audit), err)
	}
}
