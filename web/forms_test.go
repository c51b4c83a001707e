package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/thecombine/combine"
)

// pageClient posts forms as a browser without JavaScript would, with a
// real session of a real user.
type pageClient struct {
	t      *testing.T
	w      *world
	cookie string
}

func (w *world) pageClient(t *testing.T, email string, roles ...string) (*pageClient, *combine.User) {
	t.Helper()
	ctx := context.Background()
	u, err := w.ids.CreateUser(ctx, combine.UserCreate{Email: email, Name: email, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := w.ids.CreateLoginLink(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	_, _, cookie, err := w.ids.LoginWithLink(ctx, secret, combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return &pageClient{t: t, w: w, cookie: cookie}, u
}

func (c *pageClient) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.w.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.AddCookie(&http.Cookie{Name: "combine_session", Value: c.cookie})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// pendingItem waits until the execution has an open item of kind and
// returns it.
func pendingItem(t *testing.T, w *world, ctx context.Context, id, kind string) *combine.WorkItem {
	t.Helper()
	waitPending(t, w, id)
	e, err := w.eng.FindExecution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range e.Pending {
		if it.Kind == kind {
			return it
		}
	}
	t.Fatalf("no %s item open; pending %+v, status %s", kind, e.Pending, e.Status)
	return nil
}

// TestFormsWithoutScript drives the editor and the decisions with plain
// form posts, as a browser without JavaScript: adding a row and switching
// to raw JSON are round trips that submit nothing; a raw JSON document is
// submitted; a reviewer accepts a corrected version (accept with edits);
// the dashboard lists items by role; cancel and retry work as posts.
func TestFormsWithoutScript(t *testing.T) {
	w := newWorld(t)
	pm, pmUser := w.pageClient(t, "pm@example.com", combine.RoleOperator, "pm")
	ba, _ := w.pageClient(t, "ba@example.com", combine.RoleOperator, "ba")
	ctx := w.asUser(pmUser)

	resp, _ := pm.do("POST", "/workflows/software_product_development/executions", url.Values{"project_id": {"forms"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/executions/exe_") {
		t.Fatalf("start: %d to %q", resp.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, "/executions/")
	it := pendingItem(t, w, ctx, id, combine.WorkInput)
	item := url.Values{"step_path": {it.StepPath}, "attempt": {itoa(it.Attempt)}}

	// Add a goal row without the script: the page comes back with two.
	f := clone(item)
	f.Set("editor", "form")
	f.Set("doc/title", "Kept")
	f.Set("doc/goals/0", "one")
	f.Set("op", "add:doc/goals")
	resp, body := pm.do("POST", "/executions/"+id+"/submissions", f)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="doc/goals/1"`) || !strings.Contains(body, `value="Kept"`) {
		t.Fatalf("add row: %d, second goal row or typed title missing", resp.StatusCode)
	}
	// Switch to raw JSON: the form's document as JSON.
	f.Set("op", "raw")
	resp, body = pm.do("POST", "/executions/"+id+"/submissions", f)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="raw"`) || !strings.Contains(body, "&#34;Kept&#34;") {
		t.Fatalf("raw tab: %d\n%s", resp.StatusCode, body)
	}
	if e, _ := w.eng.FindExecution(ctx, id); e.Pending[0].Attempt != it.Attempt {
		t.Fatal("an editor operation submitted something")
	}
	// Submit the discovery as raw JSON.
	disc := map[string]any{"title": "Forms", "summary": "s", "problem_statement": "p", "goals": []any{"g"},
		"stakeholders":  []any{map[string]any{"role": "r", "interest": "i", "influence": "low"}},
		"user_personas": []any{map[string]any{"name": "n", "description": "d", "needs": []any{"x"}}},
		"constraints":   []any{}, "assumptions": []any{}, "risks": []any{},
		"success_metrics": []any{map[string]any{"metric": "m", "target": "t"}}}
	f = clone(item)
	f.Set("editor", "raw")
	f.Set("raw", mustJSON(disc))
	if resp, body := pm.do("POST", "/executions/"+id+"/submissions", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("raw submission: %d\n%s", resp.StatusCode, body)
	}
	// The same form again (a double click): a 409 page, nothing changed.
	if resp, body := pm.do("POST", "/executions/"+id+"/submissions", f); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "Nothing was changed") {
		t.Fatalf("stale form: %d", resp.StatusCode)
	}

	// The epic backlog (the test worker asks first; answer through the page).
	q := pendingItem(t, w, ctx, id, combine.WorkClarification)
	f = url.Values{"step_path": {q.StepPath}, "attempt": {itoa(q.Attempt)}, "answer/q1": {"Here"}}
	if resp, _ := pm.do("POST", "/executions/"+id+"/clarification", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("answers: %d", resp.StatusCode)
	}
	it = pendingItem(t, w, ctx, id, combine.WorkInput)
	b, _ := json.Marshal(epicBacklog(false))
	if _, err := w.eng.SubmitDocument(ctx, id, combine.Submission{StepPath: it.StepPath, Attempt: it.Attempt, Content: b}); err != nil {
		t.Fatal(err)
	}
	acc := pendingItem(t, w, ctx, id, combine.WorkAcceptance)

	// The dashboard lists the decision for the pm, not for the ba.
	if _, body := pm.do("GET", "/", nil); !strings.Contains(body, "you review as pm") {
		t.Fatal("the pm's dashboard does not list the decision")
	}
	if _, body := ba.do("GET", "/", nil); strings.Contains(body, "Epic backlog</strong>") {
		t.Fatal("the ba's dashboard lists a decision only a pm may take")
	}

	// Accept with edits: the editor on the document under review, then
	// the corrected version stored as v2 and accepted.
	if _, body := pm.do("GET", "/executions/"+id+"?edit="+anchorOf(t, body0(pm, id), acc), nil); !strings.Contains(body, `value="accept_edits"`) ||
		!strings.Contains(body, `value="Shop epics"`) {
		t.Fatal("edit mode does not open the editor on the document under review")
	}
	f = url.Values{"step_path": {acc.StepPath}, "attempt": {itoa(acc.Attempt)}, "document_id": {acc.Document.DocumentID},
		"version": {itoa(acc.Document.Version)}, "decision": {"accept_edits"}, "editor": {"raw"}, "raw": {mustJSON(epicBacklog(true))}}
	if resp, body := pm.do("POST", "/executions/"+id+"/acceptance", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept with edits: %d\n%s", resp.StatusCode, body)
	}
	vs, err := w.eng.DocumentVersions(ctx, acc.Document.DocumentID)
	if err != nil || len(vs) != 2 || vs[0].Version != 2 || vs[0].Acceptance.Status != combine.AcceptanceAccepted || !strings.Contains(string(vs[0].Content), "earns money") {
		t.Fatalf("after accept with edits: %+v, %v", vs, err)
	}

	// Cancel as a post needs execution:cancel: an operator gets a 403
	// page; an admin cancels, and then retry is refused (not failed).
	if resp, _ := pm.do("POST", "/executions/"+id+"/cancel", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("operator cancel: %d", resp.StatusCode)
	}
	admin, _ := w.pageClient(t, "root@example.com", combine.RoleAdmin)
	if resp, _ := admin.do("POST", "/executions/"+id+"/cancel", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin cancel: %d", resp.StatusCode)
	}
	if resp, body := admin.do("POST", "/executions/"+id+"/retry", url.Values{"comment": {"again"}}); resp.StatusCode != http.StatusConflict || strings.Contains(body, "{") {
		t.Fatalf("retry of a cancelled execution: %d", resp.StatusCode)
	}
}

// body0 is the execution page as c sees it.
func body0(c *pageClient, id string) string {
	_, b := c.do("GET", "/executions/"+id, nil)
	return b
}

// anchorOf finds the work item's section id on the page.
func anchorOf(t *testing.T, page string, it *combine.WorkItem) string {
	t.Helper()
	key := `data-key="` + it.StepPath + "@" + itoa(it.Attempt) + `"`
	i := strings.Index(page, key)
	if i < 0 {
		t.Fatalf("no section %s on the page", key)
	}
	j := strings.LastIndex(page[:i], `id="`)
	return strings.SplitN(page[j+4:], `"`, 2)[0]
}

func clone(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func itoa(i int) string { return strings.TrimSpace(mustJSON(i)) }
