package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/servertest"
)

// wfServer is the workflow routes over the built-in registry, with real
// callers on a fresh database.
type wfServer struct {
	h       http.Handler
	callers *testCallers
}

func newWorkflowServer(t *testing.T) *wfServer {
	t.Helper()
	s := servertest.New(t, servertest.Options{LogLevel: "ERROR"})
	callers := useIdentity(t, s, "viewer", "reviewer", forgedCaller, revokedCaller)
	return &wfServer{h: s.Handler(t), callers: callers}
}

// get serves GET path as the named caller.
func (s *wfServer) get(path, caller string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if b := s.callers.bearer(caller); b != "" {
		req.Header.Set("Authorization", "Bearer "+b)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

func TestWorkflowRoutesAccess(t *testing.T) {
	t.Parallel()
	s := newWorkflowServer(t)
	cases := []struct {
		name, path, caller string
		status             int
		code               string
	}{
		{"list as viewer", "/api/v1/workflows", "viewer", http.StatusOK, ""},
		{"detail as viewer", "/api/v1/workflows/software_product_development", "viewer", http.StatusOK, ""},
		{"list anonymous", "/api/v1/workflows", "", http.StatusUnauthorized, combine.EUNAUTHORIZED},
		{"detail anonymous", "/api/v1/workflows/software_product_development", "", http.StatusUnauthorized, combine.EUNAUTHORIZED},
		{"forged token", "/api/v1/workflows", forgedCaller, http.StatusUnauthorized, combine.EUNAUTHORIZED},
		{"revoked token", "/api/v1/workflows", revokedCaller, http.StatusUnauthorized, combine.EUNAUTHORIZED},
		{"reviewer role alone", "/api/v1/workflows", "reviewer", http.StatusForbidden, combine.EFORBIDDEN},
		{"unknown id", "/api/v1/workflows/no_such_flow", "viewer", http.StatusNotFound, combine.ENOTFOUND},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := s.get(tc.path, tc.caller)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if tc.code == "" {
				return
			}
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Fatalf("error body = %s (%v), want code %s", rec.Body, err, tc.code)
			}
		})
	}
}

// wfView is the part of a workflow response the tests look at.
type wfView struct {
	ID            string                     `json:"workflow_id"`
	Revision      string                     `json:"revision"`
	Scopes        map[string]json.RawMessage `json:"scopes"`
	DocumentTypes map[string]struct {
		Scope      string          `json:"scope"`
		AcceptedBy []string        `json:"accepted_by"`
		JSONSchema json.RawMessage `json:"json_schema"`
	} `json:"document_types"`
	Steps   []wfStep            `json:"steps"`
	Prompts []combine.PromptRef `json:"prompts"`
}

type wfStep struct {
	ID      string   `json:"step_id"`
	Steps   []wfStep `json:"steps"`
	Prompts *struct {
		Role, Task combine.PromptRef
	} `json:"prompts"`
}

func getJSON(t *testing.T, s *wfServer, path string, v any) {
	t.Helper()
	rec := s.get(path, "viewer")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatal(err)
	}
}

func TestWorkflowDetailShowsDefinition(t *testing.T) {
	t.Parallel()
	s := newWorkflowServer(t)
	var wf wfView
	getJSON(t, s, "/api/v1/workflows/software_product_development", &wf)
	if wf.ID != "software_product_development" || wf.Revision == "" || len(wf.Scopes) != 3 {
		t.Fatalf("definition = %+v", wf)
	}
	backlog := wf.DocumentTypes["epic_backlog"]
	if backlog.Scope != "project" || len(backlog.AcceptedBy) == 0 || !strings.Contains(string(backlog.JSONSchema), `"epics"`) {
		t.Errorf("epic_backlog = %+v", backlog)
	}
	// Steps nest: for_each_epic → for_each_story → implementation_notes.
	if len(wf.Steps) != 4 || wf.Steps[3].ID != "for_each_epic" || len(wf.Steps[3].Steps) != 3 {
		t.Fatalf("steps = %+v", wf.Steps)
	}
	notes := wf.Steps[3].Steps[2].Steps[0]
	if notes.ID != "implementation_notes" || notes.Prompts == nil || notes.Prompts.Task.Version != "v1" || len(notes.Prompts.Task.SHA256) != 64 {
		t.Errorf("implementation_notes = %+v", notes)
	}
	if wf.Steps[3].Prompts != nil {
		t.Error("an iteration step shows prompts")
	}
	if len(wf.Prompts) != 10 { // 4 roles + 6 tasks used
		t.Errorf("prompts = %d, want 10", len(wf.Prompts))
	}

	var list struct {
		Workflows []wfView `json:"workflows"`
	}
	getJSON(t, s, "/api/v1/workflows", &list)
	if len(list.Workflows) != 1 || list.Workflows[0].ID != wf.ID || len(list.Workflows[0].Steps) != 4 {
		t.Fatalf("list = %+v", list)
	}
	if list.Workflows[0].DocumentTypes["epic_backlog"].JSONSchema != nil {
		t.Error("the list carries the JSON schemas; only the detail should")
	}
}
