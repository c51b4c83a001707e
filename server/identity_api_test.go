package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
)

// idApiScenario is one request and what must come back.
type idApiScenario struct {
	name    string
	method  string
	path    string
	as      string // key into the credentials map; "" is anonymous
	body    string
	hdr     []string
	status  int
	has     []string
	hasNot  []string
	wantHdr []string // name, value-prefix pairs
}

func idRunScenarios(t *testing.T, x *idHarness, creds map[string]idCred, vars map[string]string, sc []idApiScenario) {
	t.Helper()
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	for _, s := range sc {
		w := x.do(s.method, expand(s.path), creds[s.as], expand(s.body), s.hdr...)
		body := w.Body.String()
		if w.Code != s.status {
			t.Errorf("%s: %s %s → %d %s, want %d", s.name, s.method, s.path, w.Code, body, s.status)
			continue
		}
		for _, h := range s.has {
			if !strings.Contains(body, expand(h)) {
				t.Errorf("%s: body %s lacks %q", s.name, body, expand(h))
			}
		}
		for _, h := range s.hasNot {
			if strings.Contains(body, expand(h)) {
				t.Errorf("%s: body %s contains %q", s.name, body, expand(h))
			}
		}
		for i := 0; i+1 < len(s.wantHdr); i += 2 {
			if got := w.Header().Get(s.wantHdr[i]); !strings.HasPrefix(got, s.wantHdr[i+1]) {
				t.Errorf("%s: header %s = %q, want prefix %q", s.name, s.wantHdr[i], got, s.wantHdr[i+1])
			}
		}
	}
}

func TestIdentityAPI(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	viewerTok, viewerPAT := x.token(t, "viewer")
	opTok, opPAT := x.token(t, "operator")
	scoped, _ := x.token(t, "operator", combine.PermExecutionRead)
	scopedMgr, _ := x.token(t, "operator", combine.PermExecutionRead, combine.PermCredentialsManage)
	// Scoped to every permission the viewer role has today.
	viewerAll, _ := x.token(t, "viewer", combine.PermissionsForRoles([]string{"viewer"}).List()...)
	creds := map[string]idCred{
		"scopedMgr": {bearer: scopedMgr},
		"viewerAll": {bearer: viewerAll},
		"viewer":    {cookie: x.session(t, "viewer")},
		"viewerPAT": {bearer: viewerTok},
		"operator":  {cookie: x.session(t, "operator")},
		"opPAT":     {bearer: opTok},
		"scoped":    {bearer: scoped},
		"admin":     {cookie: x.session(t, "admin")},
	}
	vars := map[string]string{
		"viewer": x.users["viewer"].ID, "admin": x.users["admin"].ID, "operator": x.users["operator"].ID,
		"viewerTokID": viewerPAT.ID, "opTokID": opPAT.ID, "viewerTok": viewerTok,
	}
	idRunScenarios(t, x, creds, vars, []idApiScenario{
		{name: "me by session", method: "GET", path: "/api/v1/me", as: "viewer", status: 200,
			has: []string{`"user_id":"{viewer}"`, `"email":"viewer@example.com"`, `"provider":"local"`, `"roles":["viewer"]`,
				`"permissions":["credentials:manage","execution:read","workflow:read"]`, `"method":"session"`, `"session_id":"ses_`}},
		{name: "me by token", method: "GET", path: "/api/v1/me", as: "opPAT", status: 200,
			has: []string{`"method":"pat"`, `"token_id":"{opTokID}"`, `"roles":["operator","pm"]`}, hasNot: []string{"session_id"}},
		{name: "me by scoped token", method: "GET", path: "/api/v1/me", as: "scoped", status: 200,
			has: []string{`"permissions":["execution:read"]`}},
		{name: "me anonymous", method: "GET", path: "/api/v1/me", status: 401, wantHdr: []string{"WWW-Authenticate", "Bearer"}},
		{name: "token in query string ignored", method: "GET", path: "/api/v1/me?access_token={viewerTok}&token={viewerTok}", status: 401},

		{name: "create token", method: "POST", path: "/api/v1/tokens", as: "operator", body: `{"name":"ci","expires_in_days":7,"scopes":["workflow:execute"]}`,
			status: 201, has: []string{`"token":"pat_`, `"display":"pat_`, `"scopes":["workflow:execute"]`, `"name":"ci"`, `"expires_at":"`, `"last_used_at":null`}},
		{name: "scope beyond creator", method: "POST", path: "/api/v1/tokens", as: "viewer", body: `{"name":"x","scopes":["execution:cancel"]}`,
			status: 403, has: []string{`"required_permission":"execution:cancel"`}},
		{name: "scope beyond scoped token", method: "POST", path: "/api/v1/tokens", as: "scopedMgr", body: `{"name":"x","scopes":["workflow:execute"]}`,
			status: 403, has: []string{`"required_permission":"workflow:execute"`}},
		{name: "scoped token mints scoped child", method: "POST", path: "/api/v1/tokens", as: "scopedMgr", body: `{"name":"child"}`,
			status: 201, has: []string{`"scopes":["credentials:manage","execution:read"]`}},
		// Finding 6: scopes equal to the owner's permissions today are still
		// scopes; the child lists them, so a promotion cannot widen it.
		{name: "child of a token scoped to all its owner has", method: "POST", path: "/api/v1/tokens", as: "viewerAll", body: `{"name":"child"}`,
			status: 201, has: []string{`"scopes":["credentials:manage","execution:read","workflow:read"]`}},
		// Finding 7: a scoped token changes credentials only with
		// credentials:manage; it may still read its owner's.
		{name: "scoped token cannot mint", method: "POST", path: "/api/v1/tokens", as: "scoped", body: `{"name":"child"}`,
			status: 403, has: []string{`"required_permission":"credentials:manage"`}},
		{name: "scoped token cannot log out everywhere", method: "POST", path: "/api/v1/sessions/revoke-all", as: "scoped",
			status: 403, has: []string{`"required_permission":"credentials:manage"`}},
		{name: "scoped token cannot revoke a token", method: "DELETE", path: "/api/v1/tokens/{opTokID}", as: "scoped",
			status: 403, has: []string{`"required_permission":"credentials:manage"`}},
		{name: "scoped token cannot end a session", method: "DELETE", path: "/api/v1/sessions/ses_any", as: "scoped",
			status: 403, has: []string{`"required_permission":"credentials:manage"`}},
		{name: "scoped token reads its owner's tokens", method: "GET", path: "/api/v1/tokens", as: "scoped", status: 200, has: []string{`"token_id":"{opTokID}"`}},
		{name: "scoped token reads its owner's sessions", method: "GET", path: "/api/v1/sessions", as: "scoped", status: 200, has: []string{`"sessions":`}},
		{name: "operator still has both sessions", method: "GET", path: "/api/v1/me", as: "operator", status: 200},
		{name: "unknown scope", method: "POST", path: "/api/v1/tokens", as: "viewer", body: `{"name":"x","scopes":["everything"]}`, status: 400},
		{name: "expiry beyond max", method: "POST", path: "/api/v1/tokens", as: "viewer", body: `{"name":"x","expires_in_days":400}`, status: 400, has: []string{"at most 365"}},
		{name: "token without name", method: "POST", path: "/api/v1/tokens", as: "viewer", body: `{}`, status: 400, has: []string{"name is required"}},
		{name: "unknown field", method: "POST", path: "/api/v1/tokens", as: "viewer", body: `{"name":"x","admin":true}`, status: 400},
		{name: "list own tokens", method: "GET", path: "/api/v1/tokens", as: "viewerPAT", status: 200,
			has: []string{`"token_id":"{viewerTokID}"`, `"display":"pat_`}, hasNot: []string{"{viewerTok}", "hash", "{opTokID}"}},
		{name: "revoke another's token", method: "DELETE", path: "/api/v1/tokens/{opTokID}", as: "viewer", status: 404},
		{name: "list sessions", method: "GET", path: "/api/v1/sessions", as: "viewer", status: 200, has: []string{`"current":true`}},
		{name: "revoke unknown session", method: "DELETE", path: "/api/v1/sessions/ses_nope", as: "viewer", status: 404},

		{name: "users needs user:manage", method: "GET", path: "/api/v1/users", as: "operator", status: 403, has: []string{`"required_permission":"user:manage"`}},
		{name: "list users", method: "GET", path: "/api/v1/users", as: "admin", status: 200, has: []string{`"email":"viewer@example.com"`}},
		{name: "get user", method: "GET", path: "/api/v1/users/{viewer}", as: "admin", status: 200, has: []string{`"user_id":"{viewer}"`}},
		{name: "get missing user", method: "GET", path: "/api/v1/users/usr_missing", as: "admin", status: 404},
		{name: "create user", method: "POST", path: "/api/v1/users", as: "admin", body: `{"email":"New@Example.com","name":"New","roles":["operator","architect"]}`,
			status: 201, has: []string{`"email":"new@example.com"`, `"roles":["architect","operator"]`}},
		{name: "create duplicate", method: "POST", path: "/api/v1/users", as: "admin", body: `{"email":"new@example.com","roles":["viewer"]}`, status: 409},
		{name: "create with bad role", method: "POST", path: "/api/v1/users", as: "admin", body: `{"email":"b@example.com","roles":["god"]}`, status: 400, has: []string{`unknown role \"god\"`}},
		{name: "demote last admin", method: "PATCH", path: "/api/v1/users/{admin}", as: "admin", body: `{"roles":["viewer"]}`, status: 409},
		{name: "disable last admin", method: "PATCH", path: "/api/v1/users/{admin}", as: "admin", body: `{"disabled":true}`, status: 409},
		{name: "empty patch", method: "PATCH", path: "/api/v1/users/{viewer}", as: "admin", body: `{}`, status: 400},
		{name: "promote", method: "PATCH", path: "/api/v1/users/{operator}", as: "admin", body: `{"roles":["operator","pm","qa"]}`, status: 200, has: []string{`"roles":["operator","pm","qa"]`}},
		{name: "promotion acts at once", method: "GET", path: "/api/v1/me", as: "opPAT", status: 200, has: []string{`"roles":["operator","pm","qa"]`}},

		{name: "audit needs admin", method: "GET", path: "/api/v1/audit", as: "operator", status: 403, has: []string{`"required_permission":"admin"`}},
		{name: "audit", method: "GET", path: "/api/v1/audit?action=user.roles", as: "admin", status: 200, has: []string{`"action":"user.roles"`, `"target":"{operator}"`}},
		{name: "audit by actor", method: "GET", path: "/api/v1/audit?actor=admin@example.com&limit=1", as: "admin", status: 200, has: []string{`"next_cursor"`}},
		{name: "audit bad since", method: "GET", path: "/api/v1/audit?since=yesterday", as: "admin", status: 400},
		{name: "audit bad limit", method: "GET", path: "/api/v1/audit?limit=0", as: "admin", status: 400},

		{name: "admin revokes another's token", method: "DELETE", path: "/api/v1/tokens/{opTokID}", as: "admin", status: 204},
		{name: "revoked at once", method: "GET", path: "/api/v1/me", as: "opPAT", status: 401, has: []string{"revoked"}},
		{name: "disable user", method: "PATCH", path: "/api/v1/users/{viewer}", as: "admin", body: `{"disabled":true}`, status: 200, has: []string{`"disabled":true`}},
		{name: "disabled session ends", method: "GET", path: "/api/v1/me", as: "viewer", status: 401},
		{name: "disabled token ends", method: "GET", path: "/api/v1/me", as: "viewerPAT", status: 401},
	})
}

func TestIdentityLogoutAndRevokeAll(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	a, b, c := x.session(t, "operator"), x.session(t, "operator"), x.session(t, "operator")
	w := x.do("POST", "/auth/logout", idCred{cookie: a}, "")
	if w.Code != 204 || !strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %q", w.Code, w.Header().Get("Set-Cookie"))
	}
	if w := x.do("GET", "/api/v1/me", idCred{cookie: a}, ""); w.Code != 401 {
		t.Fatalf("session alive after logout: %d", w.Code)
	}
	// Logging out without (or with a dead) session still clears the cookie.
	if w := x.do("POST", "/auth/logout", idCred{cookie: a}, ""); w.Code != 204 {
		t.Fatalf("second logout: %d", w.Code)
	}
	w = x.do("POST", "/api/v1/sessions/revoke-all", idCred{cookie: b}, "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"revoked":2`) {
		t.Fatalf("revoke-all: %d %s", w.Code, w.Body.String())
	}
	if w := x.do("GET", "/api/v1/me", idCred{cookie: c}, ""); w.Code != 401 {
		t.Fatalf("other session alive after revoke-all: %d", w.Code)
	}
	es, _, _ := x.svc.FindAudit(t.Context(), combine.AuditFilter{Action: combine.AuditLogout})
	if len(es) != 1 || es[0].ActorID != x.users["operator"].ID || es[0].RequestID == "" || es[0].ClientAddr != "192.0.2.10" {
		t.Fatalf("logout audit = %+v", es)
	}
}

// TestIdentityCSRF: a cookie-authenticated state change from another origin is
// refused; the same request with a bearer token (no browser) is not.
func TestIdentityCSRF(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	cookie := x.session(t, "operator")
	tok, _ := x.token(t, "operator")
	body := `{"name":"csrf"}`
	cross := []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}
	if w := x.do("POST", "/api/v1/tokens", idCred{cookie: cookie}, body, cross...); w.Code != 403 || !strings.Contains(w.Body.String(), "cross-origin") {
		t.Fatalf("cross-origin cookie POST: %d %s", w.Code, w.Body.String())
	}
	if w := x.do("POST", "/auth/logout", idCred{cookie: cookie}, "", cross...); w.Code != 403 {
		t.Fatalf("cross-origin logout: %d", w.Code)
	}
	if w := x.do("POST", "/api/v1/tokens", idCred{cookie: cookie}, body, "Origin", "http://combine.test", "Sec-Fetch-Site", "same-origin"); w.Code != 201 {
		t.Fatalf("same-origin cookie POST: %d %s", w.Code, w.Body.String())
	}
	if w := x.do("POST", "/api/v1/tokens", idCred{bearer: tok}, body); w.Code != 201 {
		t.Fatalf("bearer POST: %d %s", w.Code, w.Body.String())
	}
	// The cookie's SameSite=Lax keeps it off cross-site POSTs in browsers too.
	link, _, _ := x.svc.CreateLoginLink(t.Context(), "operator@example.com")
	w := x.do("POST", "/auth/link/"+link, idCred{}, "")
	if sc := w.Header().Get("Set-Cookie"); w.Code != 303 || !strings.Contains(sc, "SameSite=Lax") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "Path=/") {
		t.Fatalf("link sign-in: %d cookie %q", w.Code, sc)
	}
}

func TestIdentityAuthRateLimited(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	x.svc.Limiter().SetLimit(identity.Limit{Burst: 3, Per: 10 * 1e9})
	good, _ := x.token(t, "viewer")
	for range 3 {
		if w := x.do("GET", "/api/v1/me", idCred{bearer: "pat_guess"}, ""); w.Code != 401 {
			t.Fatalf("bad token: %d", w.Code)
		}
	}
	w := x.do("GET", "/api/v1/me", idCred{bearer: "pat_guess"}, "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "10" || !strings.Contains(w.Body.String(), `"code":"rate_limited"`) {
		t.Fatalf("over the limit: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
	// A valid credential from that address is not limited (others behind
	// the same NAT keep working).
	if w := x.do("GET", "/api/v1/me", idCred{bearer: good}, ""); w.Code != 200 {
		t.Fatalf("good token while limited: %d", w.Code)
	}
	// Anonymous public endpoints are unaffected.
	if w := x.do("GET", "/health/live", idCred{}, ""); w.Code != 200 {
		t.Fatalf("health while limited: %d", w.Code)
	}
}

func TestIdentitySecureSessionCookie(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, map[string]string{"SESSION_SECURE_COOKIES": "true"})
	link, _, _ := x.svc.CreateLoginLink(t.Context(), "viewer@example.com")
	w := x.do("POST", "/auth/link/"+link, idCred{}, "")
	sc := w.Header().Get("Set-Cookie")
	if !strings.HasPrefix(sc, "__Host-combine_session=") || !strings.Contains(sc, "Secure") || strings.Contains(sc, "Domain") {
		t.Fatalf("secure cookie = %q", sc)
	}
	cookie := strings.TrimPrefix(strings.SplitN(sc, ";", 2)[0], "__Host-combine_session=")
	if w := x.do("GET", "/api/v1/me", idCred{cookie: cookie}, ""); w.Code != 200 {
		t.Fatalf("secure cookie does not authenticate: %d", w.Code)
	}
}

// TestIdentityLinkPages: GET never consumes, a form error keeps the link,
// a spent link is 410, and no JSON error page is shown to the browser.
func TestIdentityLinkPages(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	// The harness has an admin, so make a setup link on a database without one.
	x.exec(t, `UPDATE users SET roles = '["viewer"]' WHERE id = $1`, x.users["admin"].ID)
	setup, _, ok, err := x.svc.CreateSetupLink(t.Context())
	if err != nil || !ok {
		t.Fatalf("setup link: %v %v", ok, err)
	}
	form := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/auth/link/"+setup, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		x.h.ServeHTTP(w, r)
		return w
	}
	for range 2 {
		if w := x.do("GET", "/auth/link/"+setup, idCred{}, ""); w.Code != 200 || !strings.Contains(w.Body.String(), "first admin") || w.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("setup page: %d %s", w.Code, w.Body.String())
		}
	}
	if w := form("name=&email=root%40example.com"); w.Code != 400 || !strings.Contains(w.Body.String(), "name is required") || !strings.Contains(w.Body.String(), `value="root@example.com"`) {
		t.Fatalf("form error: %d %s", w.Code, w.Body.String())
	}
	if w := form("name=Root&email=root%40example.com"); w.Code != 303 || w.Header().Get("Location") != "/" {
		t.Fatalf("setup: %d %s", w.Code, w.Body.String())
	}
	if w := x.do("GET", "/auth/link/"+setup, idCred{}, ""); w.Code != 410 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("spent link: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w := x.do("GET", "/auth/link/garbage", idCred{}, ""); w.Code != 410 {
		t.Fatalf("unknown link: %d", w.Code)
	}
	if w := x.do("POST", "/auth/link/"+setup, idCred{}, `{"name":"x"}`); w.Code != 400 {
		t.Fatalf("JSON body: %d", w.Code)
	}
}
