package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/thecombine/combine"
)

// TestCancelFromEveryWaitingState cancels an execution waiting for input,
// for answers and for a decision: only a caller with execution:cancel
// may, the execution ends at once as cancelled, its stream ends with
// execution_cancelled, and every later action is a 409.
func TestCancelFromEveryWaitingState(t *testing.T) {
	t.Parallel()
	p := startInProcess(t, askingPerson{step: "epic_backlog"})
	op, pm, admin := p.as(t, "operator"), p.as(t, "pm"), p.as(t, "admin")

	// reach drives a new execution to the waiting state and returns it.
	tests := []struct {
		status combine.ExecutionStatus
		reach  func(id, project string)
	}{
		{combine.StatusWaitingInput, func(id, project string) {
			op.waitFor(id, combine.StatusWaitingInput, "project_discovery", project)
		}},
		{combine.StatusWaitingClarification, func(id, project string) {
			op.waitFor(id, combine.StatusWaitingInput, "project_discovery", project)
			op.must("POST", "/api/v1/executions/"+id+"/submissions", map[string]any{"content": document("project_discovery", project, 1)}, http.StatusOK, nil)
			op.waitFor(id, combine.StatusWaitingClarification, "epic_backlog", project)
		}},
		{combine.StatusWaitingAcceptance, func(id, project string) {
			op.waitFor(id, combine.StatusWaitingInput, "project_discovery", project)
			op.must("POST", "/api/v1/executions/"+id+"/submissions", map[string]any{"content": document("project_discovery", project, 1)}, http.StatusOK, nil)
			op.waitFor(id, combine.StatusWaitingClarification, "epic_backlog", project)
			op.must("POST", "/api/v1/executions/"+id+"/clarification", map[string]any{"answers": map[string]string{"q1": "EU", "q2": "no"}}, http.StatusOK, nil)
			op.waitFor(id, combine.StatusWaitingInput, "epic_backlog", project)
			op.must("POST", "/api/v1/executions/"+id+"/submissions", map[string]any{"content": document("epic_backlog", project, 1)}, http.StatusOK, nil)
			op.waitFor(id, combine.StatusWaitingAcceptance, "epic_backlog", project)
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			t.Parallel()
			project := "cancel-" + string(tt.status)
			e := op.start(project)
			tt.reach(e.ID, project)

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
			if got.Status != combine.StatusCancelled || got.Pending != nil || got.FinishedAt == nil {
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
				{op, "/submissions", map[string]any{"content": document("project_discovery", project, 1)}},
				{op, "/clarification", map[string]any{"answers": map[string]string{"q1": "EU"}}},
				{pm, "/acceptance", map[string]any{"accepted": true}},
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
