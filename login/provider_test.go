package login_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/internal/oidctest"
	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/login"
)

const (
	tenantA = "11111111-1111-1111-1111-111111111111"
	tenantB = "22222222-2222-2222-2222-222222222222"
)

func msUser(tid string) oidctest.User {
	return oidctest.User{Subject: "pairwise-" + tid, Email: "bob@contoso.example", Name: "Bob",
		TenantID: tid, ObjectID: "oid-bob", Extra: map[string]any{"xms_edov": true}}
}

func TestMicrosoftMultiTenant(t *testing.T) {
	t.Parallel()
	allowA := map[string]string{"MICROSOFT_ALLOWED_TENANTS": tenantA}
	unverified := msUser(tenantA)
	unverified.Extra = nil
	for _, tc := range []struct {
		name   string
		user   oidctest.User
		idp    oidctest.Options
		vars   map[string]string
		status int
		reason string
	}{
		{name: "allowed tenant", user: msUser(tenantA), vars: allowA, status: http.StatusSeeOther},
		{name: "any tenant without allowlist", user: msUser(tenantB), status: http.StatusSeeOther},
		{name: "refused tenant", user: msUser(tenantB), vars: allowA, status: http.StatusForbidden, reason: "tenant_not_allowed"},
		{name: "issuer of another tenant", user: msUser(tenantA), idp: oidctest.Options{TokenIssuer: "{other}"}, status: http.StatusBadRequest, reason: "issuer_mismatch"},
		{name: "email without domain-owner verification", user: unverified, status: http.StatusForbidden, reason: "email_not_verified"},
		{name: "RFC 9207 iss of the token's tenant", user: msUser(tenantA), idp: oidctest.Options{SendIss: true}, status: http.StatusSeeOther},
		{name: "RFC 9207 iss of another issuer", user: msUser(tenantA), idp: oidctest.Options{SendIss: true, IssParam: "http://127.0.0.1:1/" + tenantA + "/v2.0"}, status: http.StatusBadRequest, reason: "iss_mismatch"},
		{name: "organizations endpoint", user: msUser(tenantA), vars: map[string]string{"MICROSOFT_TENANT_ID": "organizations"}, status: http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.idp.TenantTemplate = true
			e := newEnvMS(t, tc.user, tc.idp, tc.vars)
			b := newBrowser(t)
			resp, body := e.signIn(b, "/")
			if resp.StatusCode != tc.status {
				t.Fatalf("callback = %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status != http.StatusSeeOther {
				if got := e.failures(); len(got) == 0 || got[0] != tc.reason {
					t.Fatalf("failures = %v, want %q", got, tc.reason)
				}
				return
			}
			us, err := e.ids.FindUsers(t.Context(), combine.UserFilter{Email: "bob@contoso.example"})
			if err != nil || len(us) != 1 || us[0].Issuer != e.idp.TenantIssuer(tc.user.TenantID) ||
				us[0].ProviderID != "oid-bob" || us[0].Provider != "microsoft" {
				t.Fatalf("stored user = %+v, %v; want the tenant's issuer and the oid", us, err)
			}
		})
	}
}

// newEnvMS builds a Microsoft environment; TokenIssuer "{other}" means
// "the issuer of tenant B" (the provider's URL is only known once started).
func newEnvMS(t *testing.T, u oidctest.User, opts oidctest.Options, vars map[string]string) *env {
	t.Helper()
	other := opts.TokenIssuer == "{other}"
	if other {
		opts.TokenIssuer = ""
	}
	e := newEnv(t, setup{provider: login.Microsoft, user: u, idp: opts, vars: vars})
	if other {
		e.idp.SetTokenIssuer(e.idp.TenantIssuer(tenantB))
	}
	return e
}

func TestMicrosoftSingleTenant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		user   oidctest.User
		status int
	}{
		{"own tenant", msUser(tenantA), http.StatusSeeOther},
		{"token of another tenant's user", msUser(tenantB), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{provider: login.Microsoft, user: tc.user,
				vars: map[string]string{"MICROSOFT_TENANT_ID": tenantA}})
			b := newBrowser(t)
			if resp, body := e.signIn(b, "/"); resp.StatusCode != tc.status {
				t.Fatalf("callback = %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status != http.StatusSeeOther {
				return
			}
			if _, m := e.me(b); m.User.Provider != "microsoft" || m.User.Email != "bob@contoso.example" {
				t.Fatalf("me = %+v", m.User)
			}
		})
	}
}

// TestDiscoveryOutage: an identity provider that is down at start does not
// stop the server; sign-in with it answers 503 and /health reports it
// degraded until a retry (after the backoff) succeeds.
func TestDiscoveryOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{idpDown: true})
	b := newBrowser(t)
	if ps := e.svc.Providers(); len(ps) != 1 || ps[0].Available {
		t.Fatalf("providers = %+v, want oidc unavailable", ps)
	}
	resp, body := b.get(e.base + "/auth/login/oidc")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily unavailable") {
		t.Fatalf("start during outage = %d: %s", resp.StatusCode, body)
	}
	rep := e.health.Check(t.Context())
	if rep.Components["login_oidc"].Status != health.Degraded || rep.Status != health.Degraded {
		t.Fatalf("health = %+v, want login_oidc degraded", rep)
	}
	e.idp.SetDown(false)
	before := e.idp.Discoveries()
	if resp, _ := b.get(e.base + "/auth/login/oidc"); resp.StatusCode != http.StatusServiceUnavailable || e.idp.Discoveries() != before {
		t.Fatalf("retried before the backoff elapsed (status %d)", resp.StatusCode)
	}
	// A health probe after the backoff retries in the background.
	e.clock.Advance(10 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for e.health.Check(t.Context()).Components["login_oidc"].Status != health.Healthy {
		if time.Now().After(deadline) {
			t.Fatalf("health after recovery = %+v", e.health.Check(t.Context()).Components["login_oidc"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !e.svc.Providers()[0].Available {
		t.Fatalf("provider still unavailable after recovery")
	}
	if resp, body := e.signIn(b, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in after recovery = %d: %s", resp.StatusCode, body)
	}
}

// TestDiscoverySharedAttempt: sign-ins arriving while the provider is
// being discovered share one attempt, and the sign-in page does not wait.
func TestDiscoverySharedAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{idpDown: true})
	e.idp.SetDown(false)
	e.idp.SetDiscoveryDelay(time.Second)
	e.clock.Advance(10 * time.Second)
	var wg sync.WaitGroup
	var finished atomic.Int32
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Go(func() {
			resp, _ := newBrowser(t).get(e.base + "/auth/login/oidc")
			statuses[i] = resp.StatusCode
			finished.Add(1)
		})
	}
	for e.idp.Discoveries() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// The page lists providers without waiting for the slow discovery.
	if resp, body := newBrowser(t).get(e.base + "/auth/login"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "not reachable") || finished.Load() != 0 {
		t.Errorf("sign-in page = %d after %d sign-ins finished: %s", resp.StatusCode, finished.Load(), body)
	}
	wg.Wait()
	for _, s := range statuses {
		if s != http.StatusFound {
			t.Fatalf("statuses = %v, want all 302", statuses)
		}
	}
	if n := e.idp.Discoveries(); n != 1 {
		t.Fatalf("%d discovery requests for concurrent sign-ins, want 1", n)
	}
}

func TestLoginPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	b := newBrowser(t)
	resp, body := b.get(e.base + "/auth/login?next=/executions")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign in with Test IdP") ||
		!strings.Contains(body, `href="/auth/login/oidc?next=%2Fexecutions"`) {
		t.Fatalf("login page = %d: %s", resp.StatusCode, body)
	}
	for _, u := range []string{"/auth/login/github", "/auth/login/google", "/auth/callback/google", "/auth/callback/nope"} {
		if resp, body := b.get(e.base + u); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `href="/auth/login"`) {
			t.Errorf("GET %s = %d, want a 404 page: %s", u, resp.StatusCode, body)
		}
	}
}

func TestLoginPageWithoutProviders(t *testing.T) {
	t.Parallel()
	ts := servertest.New(t, servertest.Options{LogLevel: "ERROR"}).Start(t)
	b := newBrowser(t)
	resp, body := b.get(ts.URL + "/auth/login")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "combine users login-link --email") ||
		!strings.Contains(body, "setup link") || strings.Contains(body, "Sign in with") {
		t.Fatalf("login page without providers = %d: %s", resp.StatusCode, body)
	}
	if resp, _ := b.get(ts.URL + "/auth/login/oidc"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unconfigured provider = %d, want 404", resp.StatusCode)
	}
}
