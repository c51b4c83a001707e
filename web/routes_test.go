package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/thecombine/combine"
)

// pageAccess is the web UI's route table as the issue and docs/web.md
// declare it, written by hand: a loosened declaration fails here.
var pageAccess = map[string]string{
	"GET /static/{file...}":               "public",
	"GET /{$}":                            "authenticated",
	"GET /workflows":                      "workflow:read",
	"GET /workflows/{id}":                 "workflow:read",
	"POST /workflows/{id}/executions":     "workflow:execute",
	"GET /executions":                     "execution:read",
	"GET /executions/{id}":                "execution:read",
	"POST /executions/{id}/submissions":   "execution:write",
	"POST /executions/{id}/clarification": "execution:write",
	"POST /executions/{id}/acceptance":    "execution:write",
	"POST /executions/{id}/retry":         "execution:write",
	"POST /executions/{id}/cancel":        "execution:cancel",
	"GET /documents/{id}":                 "execution:read",
	"GET /documents/{id}/diff":            "execution:read",
	"GET /settings/tokens":                "authenticated",
	"POST /settings/tokens":               "authenticated",
	"POST /settings/tokens/{id}/revoke":   "authenticated",
	"GET /settings/sessions":              "authenticated",
	"POST /settings/sessions/{id}/revoke": "authenticated",
	"POST /settings/sessions/revoke-all":  "authenticated",
	"GET /admin/users":                    "user:manage",
	"POST /admin/users":                   "user:manage",
	"POST /admin/users/{id}":              "user:manage",
	"GET /admin/audit":                    "admin",
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestPageAccess walks every page route as every kind of caller, over
// real sessions: an anonymous browser is sent to sign in (GET) or told to
// (POST) with an HTML page; a caller without the permission gets a
// readable 403 page naming it; an allowed caller gets neither. Never JSON.
func TestPageAccess(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, name := range []string{"alice", "bob", "victor"} {
		if _, err := w.ids.CreateUser(ctx, combine.UserCreate{Email: name + "-local@example.com", Name: name, Roles: people[name].roles}); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh session per request: some routes sign sessions out.
	session := func(name string) string {
		secret, _, err := w.ids.CreateLoginLink(ctx, name+"-local@example.com")
		if err != nil {
			t.Fatal(err)
		}
		_, _, cookie, err := w.ids.LoginWithLink(ctx, secret, combine.LoginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return cookie
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	seen := map[string]bool{}
	for _, rt := range w.routes {
		if !rt.Page {
			continue
		}
		seen[rt.Pattern] = true
		if want := pageAccess[rt.Pattern]; rt.Access.String() != want {
			t.Errorf("%s declares %q, want %q", rt.Pattern, rt.Access.String(), want)
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = pathParam.ReplaceAllString(strings.ReplaceAll(path, "{$}", ""), "x")
		for _, who := range []string{"", "alice", "bob", "victor"} {
			req, _ := http.NewRequest(method, w.base+path, strings.NewReader(""))
			if method == http.MethodPost {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if who != "" {
				req.AddCookie(&http.Cookie{Name: "combine_session", Value: session(who)})
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			where := rt.Pattern + " as " + who
			if ct := resp.Header.Get("Content-Type"); strings.Contains(ct, "json") {
				t.Errorf("%s: answered %s", where, ct)
			}
			var perms combine.PermissionSet
			if who != "" {
				perms = combine.PermissionsForRoles(people[who].roles)
			}
			switch {
			case rt.Access.String() == "public":
			case who == "" && method == http.MethodGet:
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != http.StatusSeeOther || loc.Path != "/auth/login" || loc.Query().Get("next") != path {
					t.Errorf("%s: %d to %q, want 303 to sign in and back to %s", where, resp.StatusCode, resp.Header.Get("Location"), path)
				}
			case who == "":
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `href="/auth/login"`) {
					t.Errorf("%s: %d, want a 401 page with a sign-in link", where, resp.StatusCode)
				}
			case rt.Access.String() == "authenticated" || perms.Has(combine.Permission(rt.Access.String())):
				if resp.StatusCode == 401 || resp.StatusCode == 403 {
					t.Errorf("%s: %d, want access", where, resp.StatusCode)
				}
			default:
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<code>"+rt.Access.String()+"</code>") ||
					!strings.Contains(string(body), "Request id") {
					t.Errorf("%s: %d, want a 403 page naming %s with the request id:\n%s", where, resp.StatusCode, rt.Access.String(), body)
				}
			}
			if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("%s: error %d is %q, want an HTML page", where, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	}
	for p := range pageAccess {
		if !seen[p] {
			t.Errorf("route %s is missing from the table", p)
		}
	}
}

// TestPageErrors: unknown pages, wrong methods, cross-site posts and
// stale forms are readable pages, never JSON or plain text; pages carry
// the strict Content-Security-Policy.
func TestPageErrors(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	u, err := w.ids.CreateUser(ctx, combine.UserCreate{Email: "op@example.com", Name: "Op", Roles: []string{combine.RoleAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, _ := w.ids.CreateLoginLink(ctx, u.Email)
	_, _, cookie, err := w.ids.LoginWithLink(ctx, secret, combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequest(method, w.base+path, strings.NewReader(body))
		req.AddCookie(&http.Cookie{Name: "combine_session", Value: cookie})
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	e, err := w.eng.StartExecution(w.asUser(u), combine.StartExecution{WorkflowID: "software_product_development"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		text                     string
	}{
		{"unknown page", "GET", "/no/such/page", "", nil, 404, "there is no page at /no/such/page"},
		{"wrong method", "DELETE", "/workflows", "", nil, 405, "not allowed"},
		{"unknown execution", "GET", "/executions/exe_nope", "", nil, 404, "Not found"},
		{"cross-site post", "POST", "/executions/" + e.ID + "/cancel", "x=1", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403, "cross-origin request refused"},
		{"stale form", "POST", "/executions/" + e.ID + "/submissions", "step_path=project_discovery&attempt=7&doc%2Ftitle=x", nil, 409, "not waiting for this any more"},
		{"bad diff version", "GET", "/documents/doc_nope/diff?from=x", "", nil, 404, "Not found"},
	} {
		resp, body := do(c.method, c.path, c.body, c.hdr...)
		if resp.StatusCode != c.status || !strings.Contains(body, c.text) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "Request id") {
			t.Errorf("%s: %d %s, want %d with %q:\n%s", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), c.status, c.text, body)
		}
	}
	resp, body := do("GET", "/executions/"+e.ID, "")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(body, "<script>") ||
		strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
		t.Errorf("page CSP %q or inline script/style in the page", csp)
	}
	if resp, _ := do("GET", "/api/v1/executions/exe_nope", ""); !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("the API answers %s, want JSON", resp.Header.Get("Content-Type"))
	}
}
