package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/thecombine/combine"
)

// TestBrowser drives the real UI in Chromium through a whole workflow:
// sign in through the OpenID provider, start the built-in workflow, write
// the discovery document through the generated form (a QA problem shown
// at its field, then fixed), answer a clarification, reject then accept a
// document and read the diff, two people writing two stories at once and
// seeing each other's progress live, tokens, a viewer's limits and a
// forged post, signing out — with an accessibility check and a
// screenshot of each main page.
func TestBrowser(t *testing.T) {
	w := newWorld(t)
	browser := newBrowser(t)

	alice := w.tab(browser, "alice")
	alice.signIn("/executions")
	check(alice, "executions")

	// Start the built-in workflow from its page.
	alice.open("/workflows")
	check(alice, "workflows")
	alice.open("/workflows/software_product_development")
	check(alice, "workflow")
	alice.do("start", setValue(`#project_id`, "acme"), click(`#start button[type=submit]`))
	alice.waitJS("the discovery editor", `!!document.querySelector('#work form[data-editor] [name="doc/title"]')`)
	execURL := strings.TrimPrefix(alice.location(), w.base)
	execID := strings.TrimPrefix(execURL, "/executions/")
	if !strings.HasPrefix(execID, "exe_") {
		t.Fatalf("after start: at %s, want an execution page", execURL)
	}
	check(alice, "execution-discovery")

	// The discovery document through the generated form; the only goal
	// row removed, so QA finds one problem: at the goals field.
	fillDiscovery(alice)
	alice.do("remove the goal row", click(`fieldset[id$="-doc-goals"] button[data-remove]`))
	alice.do("submit", click(`#work form[data-editor] > button.primary`))
	alice.waitJS("the QA problem", `!!document.querySelector('.field-error')`)
	errAt := evalIn[string](alice, `(document.querySelector('fieldset[id$="-doc-goals"] .field-error')||{}).textContent||''`)
	if !strings.Contains(errAt, "minItems") {
		t.Fatalf("the QA problem is not shown at the goals field: %q", errAt)
	}
	if n := evalIn[int](alice, `document.querySelectorAll('#work .field-error').length`); n != 1 {
		t.Fatalf("%d fields show problems, want 1", n)
	}
	if v := evalIn[string](alice, `document.querySelector('[name="doc/title"]').value`); v != "Acme shop" {
		t.Fatalf("after the refused submission the form lost what was typed: title %q", v)
	}
	check(alice, "execution-qa-problem")
	alice.do("add a goal", click(`fieldset[id$="-doc-goals"] > button[data-add]`),
		setValue(`[name="doc/goals/0"]`, "Sell online by spring"),
		click(`#work form[data-editor] > button.primary`))
	alice.waitJS("the clarification questions", `!!document.querySelector('textarea[name="answer/q1"]')`)
	if !strings.Contains(evalIn[string](alice, `document.querySelector('.flash').textContent`), "submitted") {
		t.Fatal("no confirmation after the submission")
	}

	// Answer the worker's clarification.
	alice.do("answer", setValue(`textarea[name="answer/q1"]`, "Germany first"),
		click(`#work section.kind-clarification button.primary`))
	alice.waitJS("the epic backlog editor", `!!document.querySelector('#work form[data-editor] [name="doc/epics/0/id"]')`)

	// The epic backlog through the raw JSON tab.
	alice.do("raw tab", click(`#work form[data-editor] .tabs button[value=raw]`))
	alice.waitJS("the raw tab", `!!document.querySelector('textarea[name=raw]')`)
	alice.do("raw JSON", setValue(`textarea[name=raw]`, mustJSON(epicBacklog(false))),
		click(`#work form[data-editor] > button.primary`))
	alice.waitJS("the acceptance form", `!!document.querySelector('#work section.kind-acceptance button[value=reject]')`)

	// Bob (ba) may not decide on the epic backlog (pm): no buttons.
	bob := w.tab(browser, "bob")
	bob.signIn(execURL)
	if n := evalIn[int](bob, `document.querySelectorAll('#work section.kind-acceptance button[name=decision]').length`); n != 0 {
		t.Fatalf("bob (no pm role) sees %d decision buttons", n)
	}
	if !strings.Contains(evalIn[string](bob, `document.querySelector('#work section.kind-acceptance').textContent`), "reviewer roles pm") {
		t.Fatal("bob is not told which reviewer role decides")
	}

	// Reject with a comment, see the comment in the redo, then accept v2.
	check(alice, "execution-review")
	alice.do("reject", setValue(`#work section.kind-acceptance textarea[name=comment]`, "Say why E1 comes first."),
		click(`#work section.kind-acceptance button[value=reject]`))
	alice.waitJS("the redo with the comment", `(document.querySelector('#work .comment')||{}).textContent.includes('Say why E1 comes first.')`)
	if v := evalIn[string](alice, `document.querySelector('[name="doc/epics/0/title"]').value`); v != "Checkout" {
		t.Fatalf("the redo does not start from the rejected version: epic title %q", v)
	}
	alice.do("fix", setValue(`[name="doc/sequencing_rationale"]`, "E1 earns money first."),
		click(`#work form[data-editor] > button.primary`))
	alice.waitJS("the second review", `!!document.querySelector('#work section.kind-acceptance button[value=accept]')`)
	alice.do("accept", click(`#work section.kind-acceptance button[value=accept]`))
	alice.waitJS("the architecture item", `!!document.querySelector('#work form[data-editor] [name="doc/architecture_style"]')`)

	// The diff of v1 and v2, side by side.
	docID := evalIn[string](alice, `[...document.querySelectorAll('#documents a')].find(a => a.textContent.includes('Shop epics')).href.split('/documents/')[1]`)
	alice.open("/documents/" + docID + "/diff?from=1&to=2")
	row := evalIn[string](alice, `[...document.querySelectorAll('table.diff tr.d-added, table.diff tr.d-changed')].map(r => r.textContent).join('|')`)
	if !strings.Contains(row, "Sequencing rationale") || !strings.Contains(row, "E1 earns money first.") {
		t.Fatalf("the diff does not show the added rationale: %q", row)
	}
	check(alice, "diff")
	alice.open("/documents/" + docID + "?version=1")
	if h := evalIn[string](alice, `document.querySelector('h1').textContent`); h != "Shop epics" {
		t.Fatalf("document page heading %q", h)
	}
	if evalIn[int](alice, `document.querySelectorAll('.doc h2, .doc h3').length`) < 2 {
		t.Fatal("the document is not rendered with headings")
	}
	check(alice, "document")

	// Architecture, epic architecture and the story backlog through the
	// engine: the browser part of those is what was tested above.
	advanceToStories(t, w, execID)

	// Two people write two stories at once; each sees the other's
	// progress without reloading.
	alice.open(execURL)
	bob.open(execURL)
	s1, s2 := `#work section[data-key*="[S1]"]`, `#work section[data-key*="[S2]"]`
	alice.do("S1 open", chromedp.WaitVisible(s1+` form[data-editor]`))
	bob.do("S2 open", chromedp.WaitVisible(s2+` form[data-editor]`))
	for _, b := range []*tab{alice, bob} {
		evalIn[bool](b, `window.__samePage = true`)
	}
	fillNotes(alice, s1, "Alice's approach")
	fillNotes(bob, s2, "Bob's approach")
	alice.do("submit S1", click(s1+` form[data-editor] > button.primary`))
	alice.waitJS("S1 submitted", `(document.querySelector('.flash')||{}).textContent === 'Document submitted.'`)
	evalIn[bool](alice, `window.__samePage = true`) // her own post loaded a new page
	bob.waitJS("S1 completed, live", `[...document.querySelectorAll('#progress tr')].some(r => r.textContent.includes('story S1') && r.textContent.includes('completed'))`)
	if !evalIn[bool](bob, `window.__samePage === true && document.querySelector('`+s2+` [name$="/approach"]').value === "Bob's approach"`) {
		t.Fatal("bob's page reloaded or lost his typing while it updated")
	}
	bob.do("submit S2", click(s2+` form[data-editor] > button.primary`))
	alice.waitJS("S2 completed and the execution done, live", `window.__samePage === true && document.querySelector('#exec-status').textContent === 'completed'`)
	check(alice, "execution-completed")
	check(alice, "dashboard-after", "/")

	// Tokens: create (shown once, with a copy button), use, revoke.
	alice.open("/settings/tokens")
	alice.do("create token", setValue(`#t-name`, "ci"), click(`form[action="/settings/tokens"] button.primary`))
	alice.waitJS("the new token", `!!document.querySelector('#new-token')`)
	tok := evalIn[string](alice, `document.querySelector('#new-token').value`)
	if !strings.HasPrefix(tok, "pat_") || evalIn[bool](alice, `document.querySelector('button[data-copy]').hidden`) {
		t.Fatalf("token %q shown without a copy button", tok)
	}
	check(alice, "tokens-created")
	if code := apiStatus(t, w, tok); code != 200 {
		t.Fatalf("the new token gets %d from the API", code)
	}
	alice.open("/settings/tokens")
	if evalIn[bool](alice, `document.body.innerHTML.includes(`+mustJSON(tok)+`)`) {
		t.Fatal("the token is shown again")
	}
	alice.do("revoke", click(`form[action$="/revoke"] button`))
	alice.waitJS("the revocation", `!!document.querySelector('.flash')`)
	if code := apiStatus(t, w, tok); code != 401 {
		t.Fatalf("the revoked token gets %d from the API", code)
	}
	if evalIn[int](alice, `document.querySelectorAll('form[action$="/revoke"]').length`) != 0 {
		t.Fatal("the revoked token is still listed")
	}
	alice.open("/settings/sessions")
	check(alice, "sessions")
	alice.open("/admin/users")
	check(alice, "users")
	alice.open("/admin/audit?action=token.revoke")
	if !strings.Contains(evalIn[string](alice, `document.querySelector('main table').textContent`), "token.revoke") {
		t.Fatal("the audit filter does not show the revocation")
	}
	check(alice, "audit")

	// A viewer sees no start, submit or cancel controls, and a forged
	// post gets a readable 403 page.
	open, err := w.eng.StartExecution(w.as("alice"), combine.StartExecution{WorkflowID: "software_product_development"})
	if err != nil {
		t.Fatal(err)
	}
	victor := w.tab(browser, "victor")
	victor.signIn("/workflows/software_product_development")
	if evalIn[bool](victor, `!!document.querySelector('#start')`) {
		t.Fatal("a viewer sees the start form")
	}
	victor.open("/executions/" + open.ID)
	victor.waitJS("the open item", `!!document.querySelector('#work section.work-item')`)
	if n := evalIn[int](victor, `document.querySelectorAll('#work form, form[action$="/cancel"]').length`); n != 0 {
		t.Fatalf("a viewer sees %d work or cancel forms", n)
	}
	check(victor, "execution-viewer")
	// At phone width the page stays readable: nothing wider than the
	// screen but the tables, which scroll inside their own box.
	victor.do("phone width", chromedp.EmulateViewport(390, 844))
	if wide := evalIn[int](victor, `document.documentElement.scrollWidth`); wide > 390 {
		t.Fatalf("at 390 px the page is %d px wide", wide)
	}
	check(victor, "execution-phone")
	victor.do("desktop width", chromedp.EmulateViewport(1280, 900))
	victor.do("forged cancel", chromedp.Evaluate[chromedp.Void](`(() => { const f = document.createElement('form'); f.method = 'post';
		f.action = '/executions/`+open.ID+`/cancel'; document.body.append(f); f.submit(); })()`))
	victor.waitJS("the refusal page", `!!document.querySelector('.error-page')`)
	page := evalIn[string](victor, `document.querySelector('main').innerText`)
	if !strings.Contains(page, "execution:cancel") || !strings.Contains(page, "Request id") || strings.Contains(page, "{") {
		t.Fatalf("the refusal page is not readable: %q", page)
	}
	check(victor, "forbidden")
	if e, _ := w.eng.FindExecution(w.as("alice"), open.ID); e.Status.Terminal() {
		t.Fatal("the forged cancel changed the execution")
	}

	// Sign out: the session ends and pages ask to sign in again.
	alice.open("/")
	check(alice, "dashboard")
	alice.do("sign out", click(`.account summary`), click(`form[action="/auth/logout"] button`))
	alice.waitJS("the sign-in page", `location.pathname === '/auth/login'`)
	alice.open("/executions")
	if !strings.Contains(alice.location(), "/auth/login") {
		t.Fatalf("after signing out /executions is at %s", alice.location())
	}
	check(alice, "sign-in")
}

// fillDiscovery fills the discovery form's required fields.
func fillDiscovery(b *tab) {
	b.t.Helper()
	set := map[string]string{
		"doc/title": "Acme shop", "doc/summary": "An online shop for Acme's tools.", "doc/problem_statement": "Customers cannot order online.",
		"doc/goals/0": "placeholder goal", "doc/stakeholders/0/role": "Sales", "doc/stakeholders/0/interest": "More orders",
		"doc/user_personas/0/name": "Pat", "doc/user_personas/0/description": "A craftsman", "doc/user_personas/0/needs/0": "Fast reorder",
		"doc/success_metrics/0/metric": "Online orders per week", "doc/success_metrics/0/target": "100",
	}
	for name, v := range set {
		b.do("fill "+name, setValue(`#work [name="`+name+`"]`, v))
	}
	b.do("influence", setValue(`#work [name="doc/stakeholders/0/influence"]`, `"high"`))
}

// fillNotes fills an implementation notes form inside the section sel.
func fillNotes(b *tab, sel, approach string) {
	b.t.Helper()
	for suffix, v := range map[string]string{
		"doc/title": "Notes", "doc/approach": approach, "doc/changes/0/location": "shop/cart",
		"doc/changes/0/change": "Add the cart", "doc/test_plan/0/description": "Cart totals", "doc/definition_of_done/0": "Merged",
	} {
		b.do("fill "+suffix, setValue(sel+` [name="`+suffix+`"]`, v))
	}
	b.do("level", setValue(sel+` [name="doc/test_plan/0/level"]`, `"unit"`))
}

func epicBacklog(rationale bool) map[string]any {
	d := map[string]any{"title": "Shop epics", "epics": []any{map[string]any{
		"id": "E1", "title": "Checkout", "description": "Pay online.", "business_value": "Revenue.", "priority": "must",
		"acceptance_criteria": []any{"A customer can pay by card."},
	}}}
	if rationale {
		d["sequencing_rationale"] = "E1 earns money first."
	}
	return d
}

// advanceToStories moves the execution through the architecture steps
// and a two-story backlog with the engine, as alice.
func advanceToStories(t *testing.T, w *world, id string) {
	t.Helper()
	ctx := w.as("alice")
	docs := map[string]any{
		"project_architecture": map[string]any{"title": "Architecture", "overview": "A web shop.", "architecture_style": "Modular monolith",
			"components":         []any{map[string]any{"id": "shop", "name": "Shop", "responsibility": "Everything", "technology": "Go"}},
			"quality_attributes": []any{map[string]any{"attribute": "Speed", "requirement": "Fast", "approach": "Cache"}},
			"security":           map[string]any{"authentication": "OIDC", "authorization": "Roles", "data_protection": "TLS"},
			"deployment":         map[string]any{"environments": []any{"prod"}, "topology": "One region"},
			"decisions":          []any{map[string]any{"id": "D1", "title": "Go", "context": "Team", "decision": "Go", "consequences": "Fast builds"}}},
		"epic_architecture": map[string]any{"epic_id": "E1", "title": "Checkout", "overview": "Cart and payment.",
			"component_changes": []any{}, "data_changes": []any{}, "interface_changes": []any{}, "decisions": []any{}, "risks": []any{}},
		"story_backlog": map[string]any{"epic_id": "E1", "title": "Checkout stories", "stories": []any{story("S1"), story("S2")}},
	}
	for range 20 {
		e, err := w.eng.FindExecution(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var next *combine.WorkItem
		for _, it := range e.Pending {
			if it.DocumentType != "implementation_notes" {
				next = it
				break
			}
		}
		if next == nil {
			if len(e.Pending) >= 2 {
				return
			}
			waitPending(t, w, id)
			continue
		}
		switch next.Kind {
		case combine.WorkInput:
			b, _ := json.Marshal(docs[next.DocumentType])
			if _, err := w.eng.SubmitDocument(ctx, id, combine.Submission{StepPath: next.StepPath, Attempt: next.Attempt, Content: b}); err != nil {
				t.Fatalf("submit %s: %v", next.DocumentType, err)
			}
		case combine.WorkAcceptance:
			if _, err := w.eng.DecideAcceptance(ctx, id, combine.Decision{StepPath: next.StepPath, Attempt: next.Attempt,
				DocumentID: next.Document.DocumentID, Version: next.Document.Version, Accepted: true}); err != nil {
				t.Fatalf("accept %s: %v", next.DocumentType, err)
			}
		}
		waitPending(t, w, id)
	}
	t.Fatal("the execution did not reach the stories")
}

func story(id string) map[string]any {
	return map[string]any{"id": id, "title": "Story " + id, "as_a": "customer", "i_want": "to pay", "so_that": "I get my tools",
		"acceptance_criteria": []any{map[string]any{"id": "AC1", "given": "a cart", "when": "I pay", "then": "the order exists"}},
		"priority":            "must", "estimate_points": 3}
}

// waitPending waits (on the event log, not a timer) until the execution
// has no item with a worker.
func waitPending(t *testing.T, w *world, id string) {
	t.Helper()
	for range 400 {
		ch, cancel := w.notifier.Subscribe(id)
		e, err := w.eng.FindExecution(context.Background(), id)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if len(e.Running) == 0 && e.Status != combine.StatusPending {
			cancel()
			return
		}
		select {
		case <-ch:
		case <-time.After(5 * time.Second): // a bound, not a pace: the notifier wakes us
		}
		cancel()
	}
	t.Fatal("the execution stays with a worker")
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// apiStatus is the API's answer to a token.
func apiStatus(t *testing.T, w *world, tok string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", w.base+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
