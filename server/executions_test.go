package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine/enginetest"
	"github.com/thecombine/combine/internal/servertest"
)

type apiClient struct {
	t       *testing.T
	ts      *httptest.Server
	callers *testCallers
}

// newAPI serves the engine's API over a running engine on a fresh
// database, with the tiny test workflow; callers authenticate with real
// users' tokens.
func newAPI(t *testing.T) *apiClient {
	t.Helper()
	s := servertest.New(t, servertest.Options{Workflows: enginetest.NewWorkflows(t), RunEngine: true, LogLevel: "ERROR"})
	callers := useIdentity(t, s, "viewer", "operator", "pm", "admin", "reviewer", forgedCaller, revokedCaller)
	return &apiClient{t: t, ts: s.Start(t), callers: callers}
}

// do sends a request as the caller named who and decodes the JSON answer into out (if
// not nil), returning the status.
func (c *apiClient) do(who, method, path, body string, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, _ := http.NewRequest(method, c.ts.URL+path, rd)
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+c.callers.bearer(who))
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, b, err)
		}
	}
	return res.StatusCode
}

// waitFor polls the execution until it has status (and step path).
func (c *apiClient) waitFor(id string, status combine.ExecutionStatus, path string) combine.Execution {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var e combine.Execution
		if code := c.do("viewer", "GET", "/api/v1/executions/"+id, "", &e); code != 200 {
			c.t.Fatalf("GET execution: %d", code)
		}
		if e.Status == status && (path == "" || (e.Pending != nil && e.Pending.StepPath == path)) {
			return e
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("execution is %s at %+v, want %s at %s", e.Status, e.Pending, status, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// execAPIError is the error body with its details (named apart from the
// identity tests' apiError).
type execAPIError struct {
	Error struct {
		Code               string         `json:"code"`
		Message            string         `json:"message"`
		RequiredPermission string         `json:"required_permission"`
		Details            map[string]any `json:"details"`
	} `json:"error"`
}

func TestExecutionAPI(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	var e combine.Execution
	if code := c.do("operator", "POST", "/api/v1/workflows/tiny/executions", `{"project_id": "acme", "inputs": {"idea": "x"}}`, &e); code != 201 {
		t.Fatalf("start = %d", code)
	}
	if e.Status != combine.StatusPending || e.ProjectID != "acme" || e.WorkflowRevision != "r1" || e.CreatedBy != c.callers.userID("operator") {
		t.Fatalf("started = %+v", e)
	}
	id := e.ID
	c.waitFor(id, combine.StatusWaitingInput, "discovery")

	var ae execAPIError
	steps := []struct {
		name, who, method, path, body string
		status                        int
		code                          string
	}{
		{"anonymous start", "", "POST", "/api/v1/workflows/tiny/executions", `{}`, 401, "unauthorized"},
		{"forged token", forgedCaller, "GET", "/api/v1/executions/" + id, "", 401, "unauthorized"},
		{"revoked token", revokedCaller, "GET", "/api/v1/executions/" + id, "", 401, "unauthorized"},
		{"reviewer role alone cannot read", "reviewer", "GET", "/api/v1/executions/" + id, "", 403, "forbidden"},
		{"viewer cannot start", "viewer", "POST", "/api/v1/workflows/tiny/executions", `{}`, 403, "forbidden"},
		{"unknown workflow", "operator", "POST", "/api/v1/workflows/nope/executions", `{}`, 404, "not_found"},
		{"bad project id", "operator", "POST", "/api/v1/workflows/tiny/executions", `{"project_id": "a b"}`, 400, "invalid_request"},
		{"inputs not an object", "operator", "POST", "/api/v1/workflows/tiny/executions", `{"inputs": [1]}`, 400, "invalid_request"},
		{"unknown execution", "viewer", "GET", "/api/v1/executions/exe_nope", "", 404, "not_found"},
		{"viewer cannot submit", "viewer", "POST", "/api/v1/executions/" + id + "/submissions", `{"title": "t"}`, 403, "forbidden"},
		{"operator cannot cancel", "operator", "POST", "/api/v1/executions/" + id + "/cancel", "", 403, "forbidden"},
		{"no questions to answer", "operator", "POST", "/api/v1/executions/" + id + "/clarification", `{"answers": {}}`, 409, "conflict"},
		{"nothing to accept", "pm", "POST", "/api/v1/executions/" + id + "/acceptance", `{"accepted": true}`, 409, "conflict"},
		{"bad status filter", "viewer", "GET", "/api/v1/executions?status=sleeping", "", 400, "invalid_request"},
		{"bad limit", "viewer", "GET", "/api/v1/executions?limit=0", "", 400, "invalid_request"},
		{"submission failing QA", "operator", "POST", "/api/v1/executions/" + id + "/submissions", `{"content": {"summary": "no title"}}`, 400, "invalid_request"},
	}
	for _, s := range steps {
		ae = execAPIError{}
		if got := c.do(s.who, s.method, s.path, s.body, &ae); got != s.status || ae.Error.Code != s.code {
			t.Fatalf("%s: %d %+v, want %d %s", s.name, got, ae.Error, s.status, s.code)
		}
	}
	if probs, _ := ae.Error.Details["problems"].([]any); len(probs) != 1 {
		t.Fatalf("QA problems = %v", ae.Error.Details)
	}
	// The route refusals reached the identity audit log through the
	// server's denial hook, with the caller the authenticator resolved.
	denied, _, err := c.callers.svc.FindAudit(context.Background(),
		combine.AuditFilter{Action: combine.AuditPermissionDenied, Actor: c.callers.userID("viewer")})
	if err != nil || len(denied) != 2 {
		t.Fatalf("viewer's audited denials = %d (%v), want 2", len(denied), err)
	}
	c.waitFor(id, combine.StatusWaitingInput, "discovery")
	// The whole body is the document when it has no "content" object.
	if code := c.do("operator", "POST", "/api/v1/executions/"+id+"/submissions", `{"title": "Discovery"}`, &e); code != 200 {
		t.Fatalf("submit = %d", code)
	}
	c.waitFor(id, combine.StatusWaitingInput, "backlog")
	if code := c.do("operator", "POST", "/api/v1/executions/"+id+"/submissions",
		`{"title": "Backlog", "content": {"title": "Backlog", "epics": []}}`, nil); code != 200 {
		t.Fatalf("submit backlog = %d", code)
	}
	e = c.waitFor(id, combine.StatusWaitingAcceptance, "backlog")
	ae = execAPIError{}
	if code := c.do("operator", "POST", "/api/v1/executions/"+id+"/acceptance", `{"accepted": true}`, &ae); code != 403 {
		t.Fatalf("operator without the pm role decided: %d", code)
	}
	if code := c.do("pm", "POST", "/api/v1/executions/"+id+"/acceptance", `{"comment": "?"}`, nil); code != 400 {
		t.Fatalf("decision without accepted = %d", code)
	}
	if code := c.do("pm", "POST", "/api/v1/executions/"+id+"/acceptance", `{"accepted": true, "comment": "ok"}`, nil); code != 200 {
		t.Fatalf("accept = %d", code)
	}
	c.waitFor(id, combine.StatusCompleted, "") // no epics: nothing to iterate

	var docs struct {
		Documents []combine.Document `json:"documents"`
		Total     int                `json:"total"`
	}
	if code := c.do("viewer", "GET", "/api/v1/documents?execution_id="+id+"&latest=true", "", &docs); code != 200 || docs.Total != 2 {
		t.Fatalf("documents = %d %+v", code, docs)
	}
	var one combine.Document
	for _, d := range docs.Documents {
		if d.DocumentType == "epic_backlog" {
			one = d
		}
	}
	if one.Acceptance.Status != combine.AcceptanceAccepted || one.Acceptance.DecidedBy != c.callers.userID("pm") || one.Acceptance.Comment != "ok" {
		t.Fatalf("backlog = %+v", one)
	}
	var got combine.Document
	if code := c.do("viewer", "GET", "/api/v1/documents/"+one.ID, "", &got); code != 200 || got.Version != 1 || !got.IsLatest {
		t.Fatalf("document = %d %+v", code, got)
	}
	var versions struct {
		Versions []combine.Document `json:"versions"`
	}
	if code := c.do("viewer", "GET", "/api/v1/documents/"+one.ID+"/versions", "", &versions); code != 200 || len(versions.Versions) != 1 {
		t.Fatalf("versions = %d %+v", code, versions)
	}
	if code := c.do("viewer", "GET", "/api/v1/documents/doc_nope", "", nil); code != 404 {
		t.Fatalf("unknown document = %d", code)
	}
	if code := c.do("admin", "POST", "/api/v1/executions/"+id+"/cancel", "", nil); code != 409 {
		t.Fatalf("cancel of a completed execution = %d", code)
	}

	// The step record shows every attempt: the refused submission with its
	// problems, then the accepted one.
	var record struct {
		Steps []combine.StepRun `json:"steps"`
	}
	if code := c.do("viewer", "GET", "/api/v1/executions/"+id+"/steps", "", &record); code != 200 || len(record.Steps) != 2 {
		t.Fatalf("steps = %d %+v", code, record)
	}
	disc := record.Steps[0]
	if disc.StepID != "discovery" || disc.Status != "completed" || disc.QAFailures != 1 || len(disc.Attempts) != 2 ||
		disc.Attempts[0].Status != "qa_failed" || len(disc.Attempts[0].Problems) != 1 ||
		disc.Attempts[1].Status != "document" || disc.Attempts[1].Worker != "user:"+c.callers.userID("operator") || disc.Attempts[1].DocumentID == "" {
		t.Fatalf("discovery record = %+v", disc)
	}
	if back := record.Steps[1]; back.Attempts[0].Status != "accepted" {
		t.Fatalf("backlog record = %+v", back)
	}
	if code := c.do("viewer", "GET", "/api/v1/executions/exe_nope/steps", "", nil); code != 404 {
		t.Fatalf("steps of an unknown execution = %d", code)
	}
}

func TestListExecutionsFiltersAndPages(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	var ids []string
	for range 3 {
		var e combine.Execution
		if code := c.do("operator", "POST", "/api/v1/workflows/tiny/executions", "", &e); code != 201 {
			t.Fatalf("start = %d", code)
		}
		ids = append(ids, e.ID)
	}
	for _, id := range ids {
		c.waitFor(id, combine.StatusWaitingInput, "discovery")
	}
	if code := c.do("admin", "POST", "/api/v1/executions/"+ids[0]+"/cancel", "", nil); code != 200 {
		t.Fatalf("cancel = %d", code)
	}
	type page struct {
		Executions []combine.Execution `json:"executions"`
		Total      int                 `json:"total"`
	}
	var all, first, second, cancelled, none page
	c.do("viewer", "GET", "/api/v1/executions?workflow_id=tiny", "", &all)
	c.do("viewer", "GET", "/api/v1/executions?limit=2", "", &first)
	c.do("viewer", "GET", "/api/v1/executions?limit=2&offset=2", "", &second)
	c.do("viewer", "GET", "/api/v1/executions?status=cancelled", "", &cancelled)
	c.do("viewer", "GET", "/api/v1/executions?workflow_id=other", "", &none)
	if all.Total != 3 || len(first.Executions) != 2 || len(second.Executions) != 1 || first.Total != 3 {
		t.Fatalf("pages: all %d, first %d, second %d", all.Total, len(first.Executions), len(second.Executions))
	}
	seen := map[string]bool{}
	for _, e := range append(first.Executions, second.Executions...) {
		seen[e.ID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("pages overlap: %v", seen)
	}
	if cancelled.Total != 1 || cancelled.Executions[0].ID != ids[0] || none.Total != 0 {
		t.Fatalf("filters: cancelled %+v, other workflow %d", cancelled, none.Total)
	}
}
