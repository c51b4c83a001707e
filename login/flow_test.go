package login_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/oidctest"
	"github.com/thecombine/combine/login"
)

func TestSignInSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	b := newBrowser(t)

	resp, _ := b.get(e.base + "/auth/login/oidc?next=" + url.QueryEscape("/workflows?x=1"))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start status = %d", resp.StatusCode)
	}
	flow := setCookie(resp, "combine_login_oidc")
	if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.MaxAge != 600 || flow.Path != "/" {
		t.Fatalf("flow cookie = %+v, want HttpOnly, SameSite=Lax, Max-Age=600, Path=/", flow)
	}
	cb := e.authorize(b, resp.Header.Get("Location"))

	q := e.idp.LastAuthorize()
	if q["response_type"] != "code" || q["code_challenge_method"] != "S256" || len(q["code_challenge"]) != 43 ||
		len(q["state"]) < 43 || len(q["nonce"]) < 43 || q["redirect_uri"] != e.base+"/auth/callback/oidc" ||
		!slices.Equal(strings.Fields(q["scope"]), []string{"openid", "email", "profile"}) {
		t.Fatalf("authorization request = %v", q)
	}

	resp, _ = b.get(cb)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/workflows?x=1" {
		t.Fatalf("callback = %d → %q, want 303 → /workflows?x=1", resp.StatusCode, resp.Header.Get("Location"))
	}
	sess := setCookie(resp, "combine_session")
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Secure || len(sess.Value) < 43 {
		t.Fatalf("session cookie = %+v", sess)
	}
	if c := setCookie(resp, "combine_login_oidc"); c == nil || c.MaxAge >= 0 {
		t.Fatalf("flow cookie not cleared: %+v", c)
	}
	status, m := e.me(b)
	if status != http.StatusOK || m.User.Email != "alice@example.com" || m.User.Name != "Alice" ||
		m.User.Provider != "oidc" || !slices.Equal(m.User.Roles, []string{combine.RoleViewer}) || m.Auth.Method != "session" {
		t.Fatalf("me = %d %+v, want alice with the default role over a session", status, m)
	}
	us, err := e.ids.FindUsers(t.Context(), combine.UserFilter{Email: "alice@example.com"})
	if err != nil || len(us) != 1 || us[0].Issuer != e.idp.URL || us[0].ProviderID != "alice-sub" {
		t.Fatalf("stored user = %+v, %v; want issuer %s and subject alice-sub", us, err, e.idp.URL)
	}
	es, _, err := e.ids.FindAudit(t.Context(), combine.AuditFilter{Action: combine.AuditLoginSuccess})
	if err != nil || len(es) != 1 || es[0].ActorID != m.User.ID {
		t.Fatalf("login.success audit = %+v, %v", es, err)
	}
	if _, metrics := b.get(e.base + "/metrics"); !strings.Contains(metrics, `combine_login_callbacks_total{provider="oidc",result="success"} 1`) {
		t.Fatalf("metrics do not count the sign-in")
	}
	// Replaying the callback logs a refusal; neither log holds a secret.
	b.get(cb)
	logs := e.logs.String()
	if !strings.Contains(logs, "state_cookie") {
		t.Fatalf("the refused replay was not logged:\n%s", logs)
	}
	for name, secret := range map[string]string{"code": mustQuery(t, cb, "code"), "state": q["state"],
		"nonce": q["nonce"], "session": sess.Value, "flow cookie": flow.Value, "JWT": "eyJ"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds the %s:\n%s", name, logs)
		}
	}
}

func TestFlowExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	b := newBrowser(t)
	cb := e.authorize(b, e.start(b, ""))
	e.clock.Advance(10*time.Minute + time.Second)
	resp, body := b.get(cb)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback after 10 minutes = %d: %s", resp.StatusCode, body)
	}
	if got := e.failures(); len(got) == 0 || got[0] != "state_cookie" {
		t.Fatalf("failures = %v", got)
	}
}

func TestSignInRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		vars map[string]string
		want []string
	}{
		{"default role", nil, []string{combine.RoleViewer}},
		{"DEFAULT_ROLE operator", map[string]string{"DEFAULT_ROLE": "operator"}, []string{combine.RoleOperator}},
		{"ADMIN_EMAILS", map[string]string{"ADMIN_EMAILS": "ALICE@example.com"}, []string{combine.RoleAdmin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{vars: tc.vars})
			b := newBrowser(t)
			if resp, body := e.signIn(b, ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
				t.Fatalf("callback = %d: %s", resp.StatusCode, body)
			}
			_, m := e.me(b)
			for _, r := range tc.want {
				if !slices.Contains(m.User.Roles, r) {
					t.Fatalf("roles = %v, want %v", m.User.Roles, tc.want)
				}
			}
		})
	}
}

// TestCallbackRefused covers what must never sign anyone in.
func TestCallbackRefused(t *testing.T) {
	t.Parallel()
	const client = "the-client"
	unverified := alice
	unverified.EmailVerified = false
	for _, tc := range []struct {
		name   string
		setup  setup
		tamper func(url.Values)
		status int
		reason string
	}{
		{name: "missing state", tamper: func(q url.Values) { q.Del("state") }, status: 400, reason: "state_mismatch"},
		{name: "wrong state", tamper: func(q url.Values) { q.Set("state", strings.Repeat("A", 43)) }, status: 400, reason: "state_mismatch"},
		{name: "missing code", tamper: func(q url.Values) { q.Del("code") }, status: 400, reason: "code_missing"},
		{name: "forged code", tamper: func(q url.Values) { q.Set("code", "forged") }, status: 400, reason: "code_exchange"},
		{name: "wrong nonce", setup: setup{idp: oidctest.Options{Nonce: "not-the-nonce"}}, status: 400, reason: "nonce_mismatch"},
		{name: "wrong audience", setup: setup{idp: oidctest.Options{Audience: []string{"another-client"}}}, status: 400, reason: "id_token_invalid"},
		{name: "several audiences without azp", setup: setup{idp: oidctest.Options{ClientID: client, Audience: []string{client, "other"}}}, status: 400, reason: "azp_mismatch"},
		{name: "azp of another client", setup: setup{idp: oidctest.Options{ClientID: client, Audience: []string{client, "other"}, AZP: "other"}}, status: 400, reason: "azp_mismatch"},
		{name: "ID token signed with HS256", setup: setup{idp: oidctest.Options{SignHS256: true}}, status: 400, reason: "id_token_invalid"},
		{name: "ID token signed with a foreign key", setup: setup{idp: oidctest.Options{ForeignKey: true}}, status: 400, reason: "id_token_invalid"},
		{name: "expired ID token", setup: setup{idp: oidctest.Options{Expired: true}}, status: 400, reason: "id_token_invalid"},
		{name: "token from another issuer", setup: setup{idp: oidctest.Options{TokenIssuer: "http://127.0.0.1:1/evil"}}, status: 400, reason: "id_token_invalid"},
		{name: "RFC 9207 iss of another provider", setup: setup{idp: oidctest.Options{SendIss: true, IssParam: "http://127.0.0.1:1/evil"}}, status: 400, reason: "iss_mismatch"},
		{name: "RFC 9207 iss missing though advertised", setup: setup{idp: oidctest.Options{SendIss: true}}, tamper: func(q url.Values) { q.Del("iss") }, status: 400, reason: "iss_missing"},
		{name: "userinfo about someone else", setup: setup{idp: oidctest.Options{UserInfoOnly: true, UserInfoSubject: "mallory"}}, status: 400, reason: "userinfo_subject"},
		{name: "cancelled at the provider", tamper: func(q url.Values) { q.Del("code"); q.Set("error", "access_denied") }, status: 403, reason: "provider_denied"},
		{name: "unverified email", setup: setup{user: unverified}, status: 403, reason: "email_not_verified"},
		{name: "disallowed domain", setup: setup{vars: map[string]string{"ALLOWED_EMAIL_DOMAINS": "corp.example"}}, status: 403, reason: "domain_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.setup)
			b := newBrowser(t)
			cb := e.authorize(b, e.start(b, "/after"))
			if tc.tamper != nil {
				cb = withQuery(t, cb, tc.tamper)
			}
			resp, body := b.get(cb)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			assertErrorPage(t, resp, body)
			if got := e.failures(); len(got) == 0 || got[0] != tc.reason {
				t.Fatalf("audited failure reasons = %v, want %q first", got, tc.reason)
			}
			if status, _ := e.me(b); status != http.StatusUnauthorized {
				t.Fatalf("me after a refused sign-in = %d, want 401", status)
			}
			if _, m := b.get(e.base + "/metrics"); !strings.Contains(m, `combine_login_callbacks_total{provider="oidc",result="`+tc.reason+`"} 1`) {
				t.Fatalf("metrics do not count the refusal %q", tc.reason)
			}
		})
	}
}

// assertErrorPage checks a failed callback: an HTML page with a way back,
// no session, the flow cookie cleared, and nothing secret on the page.
func assertErrorPage(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("content type = %q, want HTML", ct)
	}
	if !strings.Contains(body, `href="/auth/login"`) {
		t.Fatalf("error page has no link back to /auth/login: %s", body)
	}
	for _, leak := range []string{"eyJ", "code=", "goroutine", ".go:"} {
		if strings.Contains(body, leak) {
			t.Fatalf("error page leaks %q: %s", leak, body)
		}
	}
	if c := setCookie(resp, "combine_session"); c != nil {
		t.Fatalf("a refused sign-in set a session cookie")
	}
	if c := setCookie(resp, "combine_login_oidc"); c != nil && c.MaxAge >= 0 {
		t.Fatalf("flow cookie not cleared on failure: %+v", c)
	}
}

func TestReplayedCallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	b := newBrowser(t)
	cb := e.authorize(b, e.start(b, ""))
	if resp, body := b.get(cb); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first callback = %d: %s", resp.StatusCode, body)
	}
	calls := e.idp.TokenCalls()
	resp, body := b.get(cb)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback = %d, want 400: %s", resp.StatusCode, body)
	}
	assertErrorPage(t, resp, body)
	if e.idp.TokenCalls() != calls {
		t.Fatalf("a replayed callback reached the token endpoint")
	}
}

func TestReplayedCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	b := newBrowser(t)
	first := e.authorize(b, e.start(b, ""))
	if resp, _ := b.get(first); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first sign-in = %d", resp.StatusCode)
	}
	// A new sign-in in the same browser (valid state and cookie) that
	// presents the already redeemed code.
	second := e.authorize(b, e.start(b, ""))
	oldCode := mustQuery(t, first, "code")
	resp, body := b.get(withQuery(t, second, func(q url.Values) { q.Set("code", oldCode) }))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed code = %d, want 400: %s", resp.StatusCode, body)
	}
	if got := e.failures(); len(got) == 0 || got[0] != "code_exchange" {
		t.Fatalf("failures = %v", got)
	}
}

// TestPKCEStopsCodeInjection: an attacker who obtains a victim's code and
// replays it through their own sign-in (their own valid state and flow
// cookie) is stopped by PKCE: the code is bound to the victim's verifier.
func TestPKCEStopsCodeInjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	attacker, victim := newBrowser(t), newBrowser(t)
	attackerCB := e.authorize(attacker, e.start(attacker, ""))
	victimCB := e.authorize(victim, e.start(victim, ""))
	stolen := mustQuery(t, victimCB, "code")
	calls := e.idp.TokenCalls()
	resp, body := attacker.get(withQuery(t, attackerCB, func(q url.Values) { q.Set("code", stolen) }))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("injected code = %d, want 400: %s", resp.StatusCode, body)
	}
	if e.idp.TokenCalls() != calls+1 || e.idp.LastTokenError() != "PKCE verification failed" {
		t.Fatalf("token endpoint: %d calls, last refusal %q; want one refused for PKCE", e.idp.TokenCalls()-calls, e.idp.LastTokenError())
	}
	if status, _ := e.me(attacker); status != http.StatusUnauthorized {
		t.Fatalf("attacker is signed in")
	}
}

func TestCallbackFromAnotherBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	cb := e.authorize(newBrowser(t), e.start(newBrowser(t), ""))
	other := newBrowser(t)
	resp, body := other.get(cb)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback without the flow cookie = %d: %s", resp.StatusCode, body)
	}
	if got := e.failures(); len(got) == 0 || got[0] != "state_cookie" {
		t.Fatalf("failures = %v", got)
	}
}

func mustQuery(t *testing.T, u, key string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || p.Query().Get(key) == "" {
		t.Fatalf("no %s in %s", key, u)
	}
	return p.Query().Get(key)
}

func TestOpenRedirectRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	for _, tc := range []struct{ next, want string }{
		{"/executions/e1?tab=log#top", "/executions/e1?tab=log#top"},
		{"//evil.com", "/"},
		{"https://evil.com", "/"},
		{`/\evil.com`, "/"},
		{"/\t/evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.com", "/"},
		{"", "/"},
	} {
		b := newBrowser(t)
		resp, body := e.signIn(b, tc.next)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want {
			t.Errorf("next %q: %d → %q, want %q (%s)", tc.next, resp.StatusCode, resp.Header.Get("Location"), tc.want, body)
		}
	}
	// One provider object per process: discovery happened once.
	if n := e.idp.Discoveries(); n != 1 {
		t.Fatalf("discovery fetched %d times for 8 sign-ins, want once", n)
	}
}

// TestFreshSessionEachLogin: a session cookie planted before sign-in is
// replaced, and each sign-in opens a new session.
func TestFreshSessionEachLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	b := newBrowser(t)
	u, _ := url.Parse(e.base)
	planted := strings.Repeat("P", 43)
	b.jar.SetCookies(u, []*http.Cookie{{Name: "combine_session", Value: planted, Path: "/"}})

	resp, _ := e.signIn(b, "")
	c := setCookie(resp, "combine_session")
	if c == nil || c.Value == planted {
		t.Fatalf("planted session cookie was not replaced: %+v", c)
	}
	_, first := e.me(b)
	e.signIn(b, "")
	_, second := e.me(b)
	if first.Auth.SessionID == "" || first.Auth.SessionID == second.Auth.SessionID {
		t.Fatalf("session ids %q then %q, want a new one per sign-in", first.Auth.SessionID, second.Auth.SessionID)
	}
	if _, err := e.ids.Authenticate(t.Context(), combine.Credentials{Session: planted}); err == nil {
		t.Fatalf("the planted value authenticates")
	}
}

func TestDisabledUserRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	b := newBrowser(t)
	e.signIn(b, "")
	_, m := e.me(b)
	disabled := true
	if _, err := e.ids.UpdateUser(t.Context(), m.User.ID, combine.UserUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	resp, body := e.signIn(newBrowser(t), "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "disabled") {
		t.Fatalf("disabled user's sign-in = %d: %s", resp.StatusCode, body)
	}
	assertErrorPage(t, resp, body)
}

func TestIssParameterAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{idp: oidctest.Options{SendIss: true}})
	b := newBrowser(t)
	cb := e.authorize(b, e.start(b, ""))
	if mustQuery(t, cb, "iss") != e.idp.URL {
		t.Fatalf("the provider did not send iss: %s", cb)
	}
	if resp, body := b.get(cb); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback with the right iss = %d: %s", resp.StatusCode, body)
	}
}

func TestUserInfoFallback(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]oidctest.Options{
		"no email in the ID token":          {UserInfoOnly: true},
		"no email_verified in the ID token": {NoEmailVerified: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{idp: opts})
			b := newBrowser(t)
			if resp, body := e.signIn(b, ""); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("callback = %d: %s", resp.StatusCode, body)
			}
			if _, m := e.me(b); m.User.Email != "alice@example.com" || m.User.Name != "Alice" {
				t.Fatalf("me = %+v, want email and name from userinfo", m.User)
			}
		})
	}
}

func TestGoogleAndSecureCookies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{provider: login.Google, secure: true})
	if !strings.Contains(e.logs.String(), "admits any Google account") {
		t.Fatalf("no warning that any Google account may sign in")
	}
	b := newBrowser(t)
	resp, _ := b.get(e.base + "/auth/login/google")
	if c := setCookie(resp, "__Host-combine_login_google"); c == nil || !c.Secure || c.Path != "/" {
		t.Fatalf("secure flow cookie = %+v", c)
	}
	// The jar does not send Secure cookies over http, so deliver them by hand.
	cb := e.authorize(b, resp.Header.Get("Location"))
	req, _ := http.NewRequest(http.MethodGet, cb, nil)
	req.AddCookie(setCookie(resp, "__Host-combine_login_google"))
	got, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	sess := setCookie(got, "__Host-combine_session")
	if got.StatusCode != http.StatusSeeOther || sess == nil || !sess.Secure || !sess.HttpOnly || sess.Path != "/" {
		t.Fatalf("callback = %d, session cookie %+v", got.StatusCode, sess)
	}
}
