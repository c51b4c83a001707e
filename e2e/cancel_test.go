package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine/enginetest"
)

// TestCancelFromEveryWaitingState cancels an execution waiting for input,
// for answers and for a decision: only a caller with execution:cancel
// may, the execution ends at once as cancelled, its stream ends with
// execution_cancelled, and every later action is a 409.
func TestCancelFromEveryWaitingState(t *testing.T) {
	t.Parallel()
	p := startInProcess(t, enginetest.AskingPerson{Step: "epic_backlog"})
	op, pm, admin := p.as(t, "operator"), p.as(t, "pm"), p.as(t, "admin")

	// reach drives a new execution to the waiting state and returns it.
	tests := []struct {
		status combine.ExecutionStatus
		reach  func(id, project string)
	}{
		{combine.StatusWaitingInput, func(id, project string) {
			op.item(id, "project_discovery", project, combine.WorkInput)
		}},
		{combine.StatusWaitingClarification, func(id, project string) {
			op.submit(id, op.item(id, "project_discovery", project, combine.WorkInput), document("project_discovery", project, 1), http.StatusOK)
			op.item(id, "epic_backlog", project, combine.WorkClarification)
		}},
		{combine.StatusWaitingAcceptance, func(id, project string) {
			op.submit(id, op.item(id, "project_discovery", project, combine.WorkInput), document("project_discovery", project, 1), http.StatusOK)
			it := op.item(id, "epic_backlog", project, combine.WorkClarification)
			op.must("POST", "/api/v1/executions/"+id+"/clarification", map[string]any{"step_path": it.StepPath, "attempt": it.Attempt,
				"answers": map[string]string{"q1": "EU", "q2": "no"}}, http.StatusOK, nil)
			op.submit(id, op.item(id, "epic_backlog", project, combine.WorkInput), document("epic_backlog", project, 1), http.StatusOK)
			op.item(id, "epic_backlog", project, combine.WorkAcceptance)
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			t.Parallel()
			project := "cancel-" + string(tt.status)
			e := op.start(project)
			tt.reach(e.ID, project)
			before := op.execution(e.ID)
			if before.Status != tt.status || len(before.Pending) != 1 {
				t.Fatalf("reached %s with %s", before.Status, fmtJSON(before.Pending))
			}
			open := before.Pending[0]

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			type followed struct {
				evs []*combine.Event
				err error
			}
			streamed := make(chan followed, 1)
			go func() { evs, err := op.follow(ctx, e.ID); streamed <- followed{evs, err} }()

			status, b, err := op.call(ctx, "POST", "/api/v1/executions/"+e.ID+"/cancel", nil)
			if err != nil || status != http.StatusForbidden || decodeError(t, b).Error.RequiredPermission != string(combine.PermExecutionCancel) {
				t.Fatalf("operator cancel: %d %s %v", status, b, err)
			}
			var got execution
			admin.must("POST", "/api/v1/executions/"+e.ID+"/cancel", nil, http.StatusOK, &got)
			if got.Status != combine.StatusCancelled || len(got.Pending) != 0 || got.FinishedAt == nil {
				t.Fatalf("after cancel: %s", fmtJSON(got))
			}
			if now := op.execution(e.ID); now.Status != combine.StatusCancelled {
				t.Fatalf("execution is %s after cancel", now.Status)
			}
			for _, action := range []struct {
				who  *client
				path string
				body any
			}{
				{admin, "/cancel", nil},
				{admin, "/retry", nil},
				{op, "/submissions", map[string]any{"step_path": open.StepPath, "attempt": open.Attempt, "content": document(open.DocumentType, project, 1)}},
				{op, "/clarification", map[string]any{"step_path": open.StepPath, "attempt": open.Attempt, "answers": map[string]string{"q1": "EU"}}},
				{pm, "/acceptance", map[string]any{"step_path": open.StepPath, "attempt": open.Attempt, "document_id": "doc_x", "version": 1, "accepted": true}},
			} {
				status, b, err := action.who.call(ctx, "POST", "/api/v1/executions/"+e.ID+action.path, action.body)
				if err != nil || status != http.StatusConflict || decodeError(t, b).Error.Code != "conflict" {
					t.Errorf("%s after cancel: %d %s %v, want 409 conflict", action.path, status, b, err)
				}
			}
			f := <-streamed
			if f.err != nil {
				t.Fatal(f.err)
			}
			checkEventLog(t, f.evs, combine.EventExecutionCancelled)

			// Nothing moves after the cancel: no runner job revives it.
			time.Sleep(200 * time.Millisecond)
			if now := op.execution(e.ID); now.Status != combine.StatusCancelled {
				t.Fatalf("execution is %s after cancel", now.Status)
			}
		})
	}
}
