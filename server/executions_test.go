package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
	s := servertest.New(t, servertest.Options{Workflows: enginetest.Registry(t), RunEngine: true, LogLevel: "ERROR"})
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

// item polls the execution until it has an open work item at path of
// kind, and returns the execution and the item.
func (c *apiClient) item(id, path, kind string) (combine.Execution, *combine.WorkItem) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var e combine.Execution
		if code := c.do("viewer", "GET", "/api/v1/executions/"+id, "", &e); code != 200 {
			c.t.Fatalf("GET execution: %d", code)
		}
		for _, it := range e.Pending {
			if it.StepPath == path && it.Kind == kind {
				return e, it
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("execution is %s with %d pending items, want %s at %s", e.Status, len(e.Pending), kind, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStatus polls the execution until it has status.
func (c *apiClient) waitStatus(id string, status combine.ExecutionStatus) combine.Execution {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var e combine.Execution
		if code := c.do("viewer", "GET", "/api/v1/executions/"+id, "", &e); code != 200 {
			c.t.Fatalf("GET execution: %d", code)
		}
		if e.Status == status {
			return e
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("execution is %s, want %s", e.Status, status)
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
	if e.Status != combine.StatusPending || e.ProjectID != "acme" || e.WorkflowRevision != "r1" || e.CreatedBy != c.callers.userID("operator") ||
		e.Pending == nil || e.Running == nil {
		t.Fatalf("started = %+v", e)
	}
	id := e.ID
	_, disc := c.item(id, "discovery", combine.WorkInput)
	if disc.Attempt != 1 || len(disc.Schema) == 0 || disc.DocumentType != "discovery" {
		t.Fatalf("discovery item = %+v", disc)
	}
	sub := "/api/v1/executions/" + id + "/submissions"
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
		{"viewer cannot submit", "viewer", "POST", sub, `{"step_path": "discovery", "attempt": 1, "content": {"title": "t"}}`, 403, "forbidden"},
		{"viewer cannot retry", "viewer", "POST", "/api/v1/executions/" + id + "/retry", `{}`, 403, "forbidden"},
		{"operator cannot cancel", "operator", "POST", "/api/v1/executions/" + id + "/cancel", "", 403, "forbidden"},
		{"not the envelope", "operator", "POST", sub, `{"title": "Discovery"}`, 400, "invalid_request"},
		{"an array as the document", "operator", "POST", sub, `{"step_path": "discovery", "attempt": 1, "content": []}`, 400, "invalid_request"},
		{"a bare array", "operator", "POST", sub, `[]`, 400, "invalid_request"},
		{"unknown envelope field", "operator", "POST", sub, `{"step_path": "discovery", "attempt": 1, "content": {"title": "t"}, "extra": 1}`, 400, "invalid_request"},
		{"attempt not a number", "operator", "POST", sub, `{"step_path": "discovery", "attempt": "1", "content": {"title": "t"}}`, 400, "invalid_request"},
		{"stale attempt", "operator", "POST", sub, `{"step_path": "discovery", "attempt": 2, "content": {"title": "t"}}`, 409, "conflict"},
		{"another step", "operator", "POST", sub, `{"step_path": "backlog", "attempt": 1, "content": {"title": "t"}}`, 409, "conflict"},
		{"no questions to answer", "operator", "POST", "/api/v1/executions/" + id + "/clarification", `{"step_path": "discovery", "attempt": 1, "answers": {}}`, 409, "conflict"},
		{"nothing to accept", "pm", "POST", "/api/v1/executions/" + id + "/acceptance", `{"step_path": "discovery", "document_id": "doc_x", "version": 1, "accepted": true}`, 409, "conflict"},
		{"not failed: no retry", "operator", "POST", "/api/v1/executions/" + id + "/retry", ``, 409, "conflict"},
		{"bad status filter", "viewer", "GET", "/api/v1/executions?status=sleeping", "", 400, "invalid_request"},
		{"bad limit", "viewer", "GET", "/api/v1/executions?limit=0", "", 400, "invalid_request"},
		{"submission failing QA", "operator", "POST", sub, `{"step_path": "discovery", "attempt": 1, "content": {"summary": "no title"}}`, 400, "invalid_request"},
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
	if err != nil || len(denied) != 3 {
		t.Fatalf("viewer's audited denials = %d (%v), want 3", len(denied), err)
	}
	// A 409 carries the current pending list: the discovery's attempt 2.
	ae = execAPIError{}
	if code := c.do("operator", "POST", sub, `{"step_path": "discovery", "attempt": 1, "content": {"title": "late"}}`, &ae); code != 409 {
		t.Fatalf("stale submission = %d", code)
	}
	if p, _ := ae.Error.Details["pending"].([]any); len(p) != 1 || p[0].(map[string]any)["attempt"].(float64) != 2 {
		t.Fatalf("409 details = %+v", ae.Error.Details)
	}
	// A document type may have its own top-level "content" field: the
	// envelope's "content" is the document, always.
	if code := c.do("operator", "POST", sub, `{"step_path": "discovery", "attempt": 2, "title": "Discovery", "content": {"title": "D", "content": {"nested": true}}}`, &e); code != 200 {
		t.Fatalf("submit = %d", code)
	}
	c.item(id, "backlog", combine.WorkInput)
	if code := c.do("operator", "POST", sub,
		`{"step_path": "backlog", "attempt": 1, "title": "Backlog", "content": {"title": "Backlog", "epics": []}}`, nil); code != 200 {
		t.Fatalf("submit backlog = %d", code)
	}
	_, acc := c.item(id, "backlog", combine.WorkAcceptance)
	decide := func(who, body string) (int, execAPIError) {
		var ae execAPIError
		return c.do(who, "POST", "/api/v1/executions/"+id+"/acceptance", body, &ae), ae
	}
	ref := `"step_path": "backlog", "attempt": 1, "document_id": "` + acc.Document.DocumentID + `", "version": 1`
	if code, ae := decide("operator", `{`+ref+`, "accepted": true}`); code != 403 || ae.Error.RequiredPermission != "" ||
		fmt.Sprint(ae.Error.Details["required_roles"]) != "[pm]" {
		t.Fatalf("operator without the pm role: %d %+v", code, ae.Error)
	}
	denied, _, _ = c.callers.svc.FindAudit(context.Background(),
		combine.AuditFilter{Action: combine.AuditPermissionDenied, Actor: c.callers.userID("operator")})
	if len(denied) != 2 || !strings.Contains(denied[0].Reason, "reviewer role") || !strings.Contains(denied[0].Reason, "pm") {
		t.Fatalf("the reviewer-role refusal was not audited (newest first): %+v", denied[0])
	}
	if code, _ := decide("pm", `{`+ref+`, "comment": "?"}`); code != 400 {
		t.Fatalf("decision without accepted = %d", code)
	}
	if code, _ := decide("pm", `{"step_path": "backlog", "accepted": true}`); code != 400 {
		t.Fatalf("decision without the document = %d", code)
	}
	// Accept with edits: the pm's corrected version is stored and accepted.
	if code, ae := decide("pm", `{`+ref+`, "accepted": true, "comment": "ok", "content": {"title": "Backlog (pm)", "epics": []}}`); code != 200 {
		t.Fatalf("accept with edits = %d %+v", code, ae)
	}
	c.waitStatus(id, combine.StatusCompleted) // no epics: nothing to iterate

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
	if one.Acceptance.Status != combine.AcceptanceAccepted || one.Acceptance.DecidedBy != c.callers.userID("pm") || one.Acceptance.Comment != "ok" ||
		one.Version != 2 || one.CreatedBy != "user:"+c.callers.userID("pm") || one.Title != "Backlog (pm)" {
		t.Fatalf("backlog = %+v", one)
	}
	var got combine.Document
	if code := c.do("viewer", "GET", "/api/v1/documents/"+one.ID, "", &got); code != 200 || got.Version != 2 || !got.IsLatest {
		t.Fatalf("document = %d %+v", code, got)
	}
	for _, d := range docs.Documents {
		if d.DocumentType == "discovery" && (string(d.Content) != `{"title":"D","content":{"nested":true}}` || d.Title != "Discovery") {
			t.Fatalf("discovery stored as %q %s", d.Title, d.Content)
		}
	}
	var versions struct {
		Versions []combine.Document `json:"versions"`
	}
	if code := c.do("viewer", "GET", "/api/v1/documents/"+one.ID+"/versions", "", &versions); code != 200 || len(versions.Versions) != 2 ||
		versions.Versions[1].Acceptance.Status != combine.AcceptanceSuperseded {
		t.Fatalf("versions = %d %+v", code, versions)
	}
	if code := c.do("viewer", "GET", "/api/v1/documents/doc_nope", "", nil); code != 404 {
		t.Fatalf("unknown document = %d", code)
	}
	if code := c.do("admin", "POST", "/api/v1/executions/"+id+"/cancel", "", nil); code != 409 {
		t.Fatalf("cancel of a completed execution = %d", code)
	}

	// The step record shows every attempt: the refused submission with its
	// problems and sender, then the accepted one.
	var record struct {
		Steps []combine.StepRun `json:"steps"`
	}
	if code := c.do("viewer", "GET", "/api/v1/executions/"+id+"/steps", "", &record); code != 200 || len(record.Steps) != 2 {
		t.Fatalf("steps = %d %+v", code, record)
	}
	op := "user:" + c.callers.userID("operator")
	d := record.Steps[0]
	if d.StepID != "discovery" || d.Status != "completed" || d.QAFailures != 1 || len(d.Attempts) != 2 ||
		d.Attempts[0].Status != "qa_failed" || len(d.Attempts[0].Problems) != 1 || d.Attempts[0].Worker != op ||
		d.Attempts[1].Status != "completed" || d.Attempts[1].Worker != op || d.Attempts[1].DocumentID == "" {
		t.Fatalf("discovery record = %+v", d)
	}
	if back := record.Steps[1]; back.Attempts[0].Status != "accepted" || len(back.Attempts[0].Inputs) != 1 {
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
		c.item(id, "discovery", combine.WorkInput)
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
