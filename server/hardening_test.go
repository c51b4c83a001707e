package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/internal/servertest"
)

// counts reads the number of rows of the tables a refused request must
// not have written to.
func counts(t *testing.T, s *servertest.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"users", "tokens", "sessions", "executions", "execution_events", "documents", "login_links"} {
		var n int
		if err := s.DB.R.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// TestUnstorableTextRefused (finding 3): NUL and invalid UTF-8 — in path
// ids, query filters, JSON strings (also as \u0000 escapes and lone
// surrogates, which the JSON decoder would silently replace), form
// fields and the stored User-Agent — are 400 on both databases, and
// nothing is written.
func TestUnstorableTextRefused(t *testing.T) {
	t.Parallel()
	s := servertest.New(t, servertest.Options{LogLevel: "ERROR"})
	h := s.Handler(t)
	admin := s.Token(t, s.User(t, "admin@example.com", "admin"))
	exe := "exe_doesnotexist"
	link, _, err := s.IdentitySvc.CreateLoginLink(context.Background(), "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	before := counts(t, s)
	tests := []struct {
		name, method, target, body string
		hdr                        map[string]string
	}{
		{"NUL in an execution id", "GET", "/api/v1/executions/%00", "", nil},
		{"invalid UTF-8 in an execution id", "GET", "/api/v1/executions/%ff", "", nil},
		{"NUL in a document id", "GET", "/api/v1/documents/a%00b/versions", "", nil},
		{"invalid UTF-8 in a user id", "GET", "/api/v1/users/%c3%28", "", nil},
		{"NUL in a token id", "DELETE", "/api/v1/tokens/tok_%00", "", nil},
		{"invalid UTF-8 in a session id", "DELETE", "/api/v1/sessions/%ff", "", nil},
		{"invalid UTF-8 in a workflow id", "POST", "/api/v1/workflows/%ff/executions", `{}`, nil},
		{"invalid UTF-8 in project_id filter", "GET", "/api/v1/executions?project_id=%ff", "", nil},
		{"NUL in status filter", "GET", "/api/v1/executions?status=%00", "", nil},
		{"NUL in documents filter", "GET", "/api/v1/documents?document_type=a%00", "", nil},
		{"NUL in users email filter", "GET", "/api/v1/users?email=a%00@b.c", "", nil},
		{"invalid UTF-8 in audit actor", "GET", "/api/v1/audit?actor=%fe", "", nil},
		{"invalid UTF-8 in a parameter name", "GET", "/api/v1/executions?%ff=1", "", nil},
		{"NUL in an execution id of costs", "GET", "/api/v1/executions/a%00/costs", "", nil},
		{"invalid UTF-8 in an execution id of costs", "GET", "/api/v1/executions/%c3%28/costs", "", nil},
		{"NUL in the telemetry model filter", "GET", "/api/v1/telemetry/summary?model=%00", "", nil},
		{"invalid UTF-8 in the telemetry provider filter", "GET", "/api/v1/telemetry/summary?provider=%ff", "", nil},
		{"invalid UTF-8 in the telemetry workflow filter", "GET", "/api/v1/telemetry/summary?workflow_id=a%c3%28b", "", nil},
		{"too long a telemetry model filter", "GET", "/api/v1/telemetry/summary?model=" + strings.Repeat("é", 201), "", nil},
		{"NUL in the telemetry since filter", "GET", "/api/v1/telemetry/summary?since=2026-01-01%00", "", nil},
		{"malformed query escape", "GET", "/api/v1/executions?project_id=%zz", "", nil},
		{"escaped NUL in a token name", "POST", "/api/v1/tokens", `{"name":"a\u0000b"}`, nil},
		{"raw invalid UTF-8 in a token name", "POST", "/api/v1/tokens", "{\"name\":\"a\xffb\"}", nil},
		{"lone high surrogate in a token name", "POST", "/api/v1/tokens", `{"name":"a\ud800b"}`, nil},
		{"lone low surrogate in a user name", "POST", "/api/v1/users", `{"email":"x@example.com","name":"\udc00","roles":["viewer"]}`, nil},
		{"escaped NUL in a user email", "POST", "/api/v1/users", `{"email":"x\u0000@example.com","roles":["viewer"]}`, nil},
		{"escaped NUL in a role", "PATCH", "/api/v1/users/usr_x", `{"roles":["viewer\u0000"]}`, nil},
		{"escaped NUL in a project id", "POST", "/api/v1/workflows/software_product_development/executions", `{"project_id":"p\u0000"}`, nil},
		{"escaped NUL deep in inputs", "POST", "/api/v1/workflows/software_product_development/executions", `{"inputs":{"a":[{"b":"\u0000"}]}}`, nil},
		{"escaped NUL in a key", "POST", "/api/v1/workflows/software_product_development/executions", `{"inputs":{"\u0000":1}}`, nil},
		{"escaped NUL in a document title", "POST", "/api/v1/executions/" + exe + "/submissions", `{"title":"\u0000","content":{"title":"x"}}`, nil},
		{"lone surrogate in a rejection comment", "POST", "/api/v1/executions/" + exe + "/acceptance", `{"accepted":false,"comment":"no\udbff"}`, nil},
		{"escaped NUL in an answer", "POST", "/api/v1/executions/" + exe + "/clarification", `{"answers":{"q1":"\u0000"}}`, nil},
		{"invalid UTF-8 User-Agent at sign-in", "POST", "/auth/link/" + link, "", map[string]string{"User-Agent": "Mozilla\xff", "Content-Type": "application/x-www-form-urlencoded"}},
		{"NUL in a sign-in form field", "POST", "/auth/link/" + link, "email=a%00b", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{"invalid UTF-8 Last-Event-ID", "GET", "/api/v1/executions/" + exe + "/events", "", map[string]string{"Last-Event-ID": "\xff"}},
	}
	for _, tt := range tests {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		r := httptest.NewRequest(tt.method, tt.target, body)
		r.Header.Set("Authorization", "Bearer "+admin)
		if tt.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		for k, v := range tt.hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: %s %q → %d %s, want 400", tt.name, tt.method, tt.target, w.Code, w.Body.String())
		}
	}
	after := counts(t, s)
	for table, n := range before {
		if after[table] != n {
			t.Errorf("%s: %d rows before, %d after refused requests", table, n, after[table])
		}
	}
	// The sign-in link refused for its User-Agent still works.
	if _, _, _, err := s.IdentitySvc.LoginWithLink(context.Background(), link, combine.LoginRequest{UserAgent: "ok"}); err != nil {
		t.Errorf("the link was used up by a refused request: %v", err)
	}
}

// TestJSONBodyShape: duplicate keys and absurd nesting are 400, escaped
// text that decodes to valid characters passes.
func TestJSONBodyShape(t *testing.T) {
	t.Parallel()
	s := servertest.New(t, servertest.Options{LogLevel: "ERROR"})
	h := s.Handler(t)
	admin := s.Token(t, s.User(t, "admin@example.com", "admin"))
	tests := []struct {
		body   string
		status int
	}{
		{`{"name":"a","name":"b"}`, 400},
		{`{"name":"a","expires_in_days":1,"scopes":["execution:read"],"scopes":[]}`, 400},
		{`{"name":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, 400},
		{`{"name":"caf\u00e9 \ud83d\ude00 \\u0000 is text"}`, 201}, // a real pair and an escaped backslash
		{`{"name":"` + strings.Repeat("é", 100) + `"}`, 201},       // 100 characters, 200 bytes
		{`{"name":"` + strings.Repeat("é", 101) + `"}`, 400},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/api/v1/tokens", strings.NewReader(tt.body))
		r.Header.Set("Authorization", "Bearer "+admin)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("%.80s → %d %s, want %d", tt.body, w.Code, w.Body.String(), tt.status)
		}
	}
}

// TestTextLimitsCountCharacters (finding 4): identity's limits count code
// points on both databases, and stored text is cut on a boundary.
func TestTextLimitsCountCharacters(t *testing.T) {
	t.Parallel()
	s := servertest.New(t, servertest.Options{LogLevel: "ERROR"})
	ctx := context.Background()
	name := "a" + strings.Repeat("é", 199) // 200 characters, 399 bytes
	u, err := s.IdentitySvc.CreateUser(ctx, combine.UserCreate{Email: "long@example.com", Name: name, Roles: []string{"viewer"}})
	if err != nil || u.Name != name {
		t.Fatalf("200-character name: %v", err)
	}
	if _, err := s.IdentitySvc.CreateUser(ctx, combine.UserCreate{Email: "longer@example.com", Name: name + "é", Roles: []string{"viewer"}}); combine.ErrorCode(err) != combine.EINVALID {
		t.Fatalf("201-character name: %v", err)
	}
	got, err := s.IdentitySvc.FindUserByID(ctx, u.ID)
	if err != nil || got.Name != name {
		t.Fatalf("stored name %q: %v", got.Name, err)
	}
	link, _, err := s.IdentitySvc.CreateLoginLink(ctx, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	ua := strings.Repeat("é", 400)
	_, sess, _, err := s.IdentitySvc.LoginWithLink(ctx, link, combine.LoginRequest{UserAgent: ua})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := s.IdentitySvc.ListSessions(ctx, u.ID)
	if err != nil || len(ss) != 1 || ss[0].ID != sess.ID {
		t.Fatalf("sessions %v %v", ss, err)
	}
	if want := strings.Repeat("é", 300); ss[0].UserAgent != want {
		t.Fatalf("stored User-Agent has %d characters (%d bytes), want the first 300 characters", combine.TextLen(ss[0].UserAgent), len(ss[0].UserAgent))
	}
}

// TestSmallerFindings (finding 9): oversized chunked forms, emails with
// control characters, an empty role list, forwarded-for hops with ports.
func TestSmallerFindings(t *testing.T) {
	t.Parallel()
	s := servertest.New(t, servertest.Options{LogLevel: "INFO", Config: func(c *config.Config) {
		c.MaxBodyBytes = 1024
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}})
	h := s.Handler(t)
	adminUser := s.User(t, "admin@example.com", "admin")
	admin := s.Token(t, adminUser)
	viewer := s.User(t, "viewer@example.com", "viewer")
	do := func(method, target string, body io.Reader, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, body)
		for k, v := range hdr {
			if k == "RemoteAddr" {
				r.RemoteAddr = v
				continue
			}
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// A chunked (unknown length) form over the body limit is 413.
	form := io.MultiReader(strings.NewReader("name=x&email="), strings.NewReader(strings.Repeat("a", 4096)))
	if w := do("POST", "/auth/link/whatever", form, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); w.Code != 413 {
		t.Errorf("oversized chunked form: %d, want 413", w.Code)
	}
	// Emails with control characters.
	for _, email := range []string{`a\tb@example.com`, `ab@exa\u0001mple.com`, `a\nb@example.com`, `ab\u0085@example.com`, `ab@ex ample.com`} {
		w := do("POST", "/api/v1/users", strings.NewReader(`{"email":"`+email+`","roles":["viewer"]}`), map[string]string{"Authorization": "Bearer " + admin})
		if w.Code != 400 {
			t.Errorf("email %s: %d %s, want 400", email, w.Code, w.Body.String())
		}
	}
	// PATCH roles: [] is refused like a create without a role.
	if w := do("PATCH", "/api/v1/users/"+viewer.ID, strings.NewReader(`{"roles":[]}`), map[string]string{"Authorization": "Bearer " + admin}); w.Code != 400 {
		t.Errorf("PATCH roles []: %d %s, want 400", w.Code, w.Body.String())
	}
	// A forwarded-for hop written with a port names the client.
	for hop, want := range map[string]string{"198.51.100.7:4711": "198.51.100.7", "[2001:db8::7]:443": "2001:db8::7", "[2001:db8::8]": "2001:db8::8"} {
		w := do("GET", "/api/v1/me", nil, map[string]string{"RemoteAddr": "10.1.2.3:5000", "X-Forwarded-For": hop, "Authorization": "Bearer " + admin})
		if w.Code != 200 {
			t.Fatalf("me: %d", w.Code)
		}
		if !strings.Contains(s.Logs.String(), `"client":"`+want+`"`) {
			t.Errorf("X-Forwarded-For %q: the access log does not name %s", hop, want)
		}
	}
	if strings.Contains(s.Logs.String(), `"client":"10.1.2.3"`) {
		t.Errorf("a hop with a port fell back to the proxy's address")
	}
}

// TestDenialFloodAggregated (finding 2): a signed-in user looping on a
// forbidden route adds one permission.denied entry per client and window
// plus one with the count, not one per request; another client's denial
// is its own entry.
func TestDenialFloodAggregated(t *testing.T) {
	t.Parallel()
	s := servertest.New(t, servertest.Options{LogLevel: "INFO"})
	h := s.Handler(t)
	viewer := s.User(t, "viewer@example.com", "viewer")
	tok := s.Token(t, viewer)
	deny := func(remote string) {
		r := httptest.NewRequest("GET", "/api/v1/users", nil)
		r.RemoteAddr = remote
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 403 {
			t.Fatalf("GET /api/v1/users as viewer: %d", w.Code)
		}
	}
	const n = 500
	for i := 0; i < n; i++ {
		deny("192.0.2.1:1000")
	}
	deny("192.0.2.2:1000")
	entries := func() []*combine.AuditEntry {
		es, _, err := s.IdentitySvc.FindAudit(context.Background(), combine.AuditFilter{Action: combine.AuditPermissionDenied, Actor: viewer.ID, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	if es := entries(); len(es) != 2 {
		t.Fatalf("%d permission.denied entries during the flood, want 2 (one per client)", len(es))
	}
	s.IdentitySvc.FlushAudit()
	es := entries()
	if len(es) != 3 {
		t.Fatalf("%d entries after the window, want 3", len(es))
	}
	if got, _ := es[0].Details["repeated"].(float64); int(got) != n-1 || es[0].ClientAddr != "192.0.2.1" || es[0].Target != "GET /api/v1/users" {
		t.Fatalf("aggregated entry %+v, want repeated = %d from 192.0.2.1", es[0], n-1)
	}
	if c := strings.Count(s.Logs.String(), `"msg":"refused: permission.denied"`); c != 2 {
		t.Fatalf("%d WARN lines for the denials, want 2 (one per client)", c)
	}
}
