package server_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/servertest"
)

// The hostile-input corpus: every route of the golden table, sent bad
// encodings, NUL, huge and deeply nested bodies, wrong types, duplicate
// keys and injection strings. No answer may be a 5xx, nothing may panic,
// every /api/ answer is JSON, and a refused request (4xx) writes nothing
// (audit entries of refusals aside).
//
// Bodies live in tables: bodyTemplates has, per route, JSON templates
// whose %s is replaced by each of hostileValues; hostileBodies are sent
// to every route that takes a body. When a request's shape changes (the
// engine's actions gain "step_path" and "attempt"), change its templates.

// hostileValues are JSON values put in every field of the templates.
var hostileValues = []string{
	`"\u0000"`, `"a\u0000b"`, `"\ud800"`, `"\udfff x"`, `"\ud83d"`,
	`"' OR '1'='1' --"`, `"'; DROP TABLE users; --"`, `"<script>alert(1)</script>"`, `"${jndi:ldap://x/a}"`,
	`"../../../../etc/passwd"`, `"%00%ff"`, `"\\u0000"`, `"` + strings.Repeat("é", 5000) + `"`,
	`-1`, `0`, `1e309`, `99999999999999999999999`, `1.5`, `true`, `null`, `[]`, `{}`, `[[[[[[[[]]]]]]]]`,
	`{"$gt": ""}`, `"\r\nSet-Cookie: x=y"`, `"\u202e\u200b\ufeff"`,
}

// bodyTemplates are, per route, request bodies with one hostile slot.
var bodyTemplates = map[string][]string{
	"POST /api/v1/tokens":                        {`{"name":%s}`, `{"name":"t","expires_in_days":%s}`, `{"name":"t","scopes":%s}`, `{"name":"t","scopes":[%s]}`},
	"POST /api/v1/users":                         {`{"email":%s,"name":"n","roles":["viewer"]}`, `{"email":"h@example.com","name":%s,"roles":["viewer"]}`, `{"email":"h2@example.com","roles":%s}`},
	"PATCH /api/v1/users/{id}":                   {`{"roles":%s}`, `{"roles":[%s]}`, `{"disabled":%s}`},
	"POST /api/v1/workflows/{id}/executions":     {`{"project_id":%s}`, `{"inputs":%s}`, `{"inputs":{"discovery":%s}}`},
	"POST /api/v1/executions/{id}/submissions":   {`{"step_path":%s,"attempt":1,"content":{"title":"t"}}`, `{"step_path":"s","attempt":%s,"content":{}}`, `{"title":%s,"content":{"title":"t"}}`, `{"content":%s}`},
	"POST /api/v1/executions/{id}/clarification": {`{"answers":%s}`, `{"answers":{"q1":%s}}`, `{"step_path":%s,"attempt":1,"answers":{}}`},
	"POST /api/v1/executions/{id}/acceptance": {`{"accepted":%s,"comment":"c"}`, `{"accepted":false,"comment":%s}`, `{"step_path":"s","document_id":%s,"version":1,"accepted":true}`,
		`{"step_path":"s","document_id":"d","version":1,"accepted":true,"content":%s}`, `{"step_path":"s","document_id":"d","version":%s,"accepted":true}`},
	"POST /api/v1/executions/{id}/retry":  {`{"comment":%s}`, `%s`},
	"POST /api/v1/executions/{id}/cancel": {`{"comment":%s}`},
}

// hostileBodies go to every route that takes a body.
var hostileBodies = []string{
	``, `{`, `}`, `[]`, `"just a string"`, `null`, `42`, `{"a":1}{"b":2}`, `{"a":1,"a":2}`,
	"{\"name\":\"\xff\xfe\"}", "\x00\x00\x00", `{"name":"x"` + strings.Repeat(" ", 100) + `,}`,
	strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
	`{"x":` + strings.Repeat(`{"x":`, 200) + `1` + strings.Repeat(`}`, 201),
	`{"name":"` + strings.Repeat("A", 2<<20) + `"}`, // over MAX_BODY_BYTES
}

// hostileIDs replace every {param} of a path.
var hostileIDs = []string{"%00", "%ff", "a%c3%28b", "..%2f..%2fetc%2fpasswd", "%27%20OR%201%3D1--", strings.Repeat("x", 4000), "%F0%9F%92%A9", "%25"}

// hostileQueries are appended to every GET route.
var hostileQueries = []string{
	"?limit=-1", "?limit=99999999999999999999", "?offset=%00", "?status=%ff", "?project_id=%27%20OR%201%3D1--",
	"?workflow_id=a&workflow_id=b", "?email=%00", "?since=9999-99-99", "?before=%ff", "?after=-5", "?latest=maybe",
	"?actor=" + strings.Repeat("a", 3000), "?%zz=1",
	// The telemetry summary's filters.
	"?model=%00", "?provider=%ff", "?workflow_id=a%c3%28b", "?model=" + strings.Repeat("é", 300), "?until=%00",
	"?since=2026-02-01&until=2026-01-01", "?until=2026-13-01T00:00:00Z",
}

func TestHostileInputCorpus(t *testing.T) {
	t.Parallel()
	s := servertest.New(t, servertest.Options{LogLevel: "WARN"})
	h := s.Handler(t)
	adminUser := s.User(t, "admin@example.com", "admin", "pm", "ba", "architect")
	admin := s.Token(t, adminUser)
	asAdmin := combine.NewContextWithAuth(context.Background(), &combine.AuthContext{UserID: adminUser.ID,
		Roles: adminUser.Roles, Permissions: combine.PermissionsForRoles(adminUser.Roles)})
	exe, err := s.Server.Engine.Executions.StartExecution(asAdmin, combine.StartExecution{WorkflowID: "software_product_development", ProjectID: "corpus"})
	if err != nil {
		t.Fatal(err)
	}
	real := map[string]string{"{id}": exe.ID, "{provider}": "oidc", "{secret}": "nope"}

	type request struct{ method, path, body, contentType string }
	var reqs []request
	patterns := make([]string, 0, len(routeAccess))
	for p := range routeAccess {
		patterns = append(patterns, p)
	}
	slices.Sort(patterns)
	for _, pattern := range patterns {
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.ReplaceAll(path, "{$}", "")
		realPath := path
		for k, v := range real {
			realPath = strings.ReplaceAll(realPath, k, v)
			if strings.HasPrefix(pattern, "PATCH /api/v1/users") {
				realPath = strings.ReplaceAll(path, "{id}", s.User(t, "target@example.com", "viewer").ID)
			}
		}
		ct := "application/json"
		if strings.HasPrefix(path, "/auth/link/") {
			ct = "application/x-www-form-urlencoded"
		}
		if strings.Contains(path, "{") {
			for _, id := range hostileIDs {
				p := idPathParam.ReplaceAllString(path, id)
				reqs = append(reqs, request{method, p, "", ct})
			}
		}
		if method == http.MethodGet {
			for _, q := range hostileQueries {
				reqs = append(reqs, request{method, realPath + q, "", ct})
			}
			continue
		}
		for _, tpl := range bodyTemplates[pattern] {
			for _, v := range hostileValues {
				reqs = append(reqs, request{method, realPath, fmt.Sprintf(tpl, v), ct})
			}
		}
		for _, b := range hostileBodies {
			reqs = append(reqs, request{method, realPath, b, ct})
		}
		if ct != "application/json" {
			for _, b := range []string{"name=%00&email=a@b.c", "email=%ff", "name=" + strings.Repeat("é", 300), "a=1&a=2&a=3"} {
				reqs = append(reqs, request{method, realPath, b, ct})
			}
		}
	}
	if len(reqs) < 100 {
		t.Fatalf("only %d hostile requests", len(reqs))
	}

	refused, accepted := 0, 0
	for _, rq := range reqs {
		before := counts(t, s)
		var body io.Reader
		if rq.body != "" {
			body = strings.NewReader(rq.body)
		}
		r := httptest.NewRequest(rq.method, "http://combine.test"+rq.path, body)
		r.Header.Set("Authorization", "Bearer "+admin)
		if rq.body != "" {
			r.Header.Set("Content-Type", rq.contentType)
		}
		ctx, cancel := context.WithCancel(r.Context())
		if strings.HasSuffix(strings.Split(rq.path, "?")[0], "/events") {
			ctx, cancel = context.WithTimeout(r.Context(), 300*time.Millisecond) // an open stream ends
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r.WithContext(ctx))
		cancel()
		where := fmt.Sprintf("%s %.120q body %.80q", rq.method, rq.path, rq.body)
		if w.Code >= 500 {
			t.Errorf("%s: %d %.300s", where, w.Code, w.Body.String())
			continue
		}
		if strings.HasPrefix(rq.path, "/api/") && w.Code != http.StatusNoContent && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") &&
			!strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
			t.Errorf("%s: %d with Content-Type %q", where, w.Code, w.Header().Get("Content-Type"))
		}
		if w.Code >= 400 {
			refused++
			if after := counts(t, s); !maps.Equal(before, after) {
				t.Errorf("%s: refused with %d but wrote: %v → %v", where, w.Code, before, after)
			}
		} else {
			accepted++
		}
	}
	if strings.Contains(s.Logs.String(), "panic") {
		t.Errorf("a request panicked:\n%.2000s", s.Logs.String())
	}
	t.Logf("%d hostile requests on %d routes: %d refused, %d accepted", len(reqs), len(patterns), refused, accepted)
}
