package login_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/oidctest"
	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/internal/testlog"
	"github.com/thecombine/combine/login"
)

// clock is real time plus an adjustable offset: go-oidc checks expiry
// against it, so it must stay near the provider's real clock.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer = testlog.Buffer

// setup describes one test's world.
type setup struct {
	provider string // google, microsoft or oidc (default)
	user     oidctest.User
	idp      oidctest.Options
	vars     map[string]string
	idpDown  bool
	secure   bool
}

// env is the real server (real identity service on a real database) and a
// real OpenID provider, both on loopback.
type env struct {
	t        testing.TB
	provider string
	idp      *oidctest.Provider
	base     string
	ids      *identity.Service
	svc      *login.Service
	health   *health.Checker
	clock    *clock
	logs     *syncBuffer
}

var alice = oidctest.User{Subject: "alice-sub", Email: "alice@example.com", EmailVerified: true, Name: "Alice"}

func newEnv(t testing.TB, s setup) *env {
	t.Helper()
	if s.provider == "" {
		s.provider = login.OIDC
	}
	if s.user.Subject == "" {
		s.user = alice
	}
	idp := oidctest.New(t, s.user, s.idp)
	if s.idpDown {
		idp.SetDown(true)
	}
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	vars := map[string]string{
		"SECRET_KEY": strings.Repeat("s", 40), "PUBLIC_URL": base, "LOG_LEVEL": "ERROR",
	}
	if s.secure {
		vars["SESSION_SECURE_COOKIES"] = "true"
	}
	switch s.provider {
	case login.OIDC:
		vars["OIDC_ISSUER"], vars["OIDC_CLIENT_ID"], vars["OIDC_CLIENT_SECRET"], vars["OIDC_NAME"] = idp.URL, idp.ClientID, idp.ClientSecret, "Test IdP"
	case login.Google:
		vars["GOOGLE_CLIENT_ID"], vars["GOOGLE_CLIENT_SECRET"] = idp.ClientID, idp.ClientSecret
	case login.Microsoft:
		vars["MICROSOFT_CLIENT_ID"], vars["MICROSOFT_CLIENT_SECRET"] = idp.ClientID, idp.ClientSecret
	}
	for k, v := range s.vars {
		vars[k] = v
	}
	idp.AllowRedirect(base + "/auth/callback/" + s.provider)
	clk := &clock{}
	var svc *login.Service
	srv := servertest.New(t, servertest.Options{Env: vars, Login: func(x *servertest.Server) *login.Service {
		svc = login.New(context.Background(), x.Cfg, x.IdentitySvc, login.Options{
			GoogleIssuer: idp.URL, MicrosoftAuthority: idp.URL, Now: clk.Now, Logger: x.Logger, Registerer: x.Registry,
			OnFailure: login.AuditFailures(x.IdentitySvc),
		})
		svc.RegisterHealth(x.Health)
		return svc
	}})
	ids, checker, logs := srv.IdentitySvc, srv.Health, srv.Logs
	h := srv.Handler(t)
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	return &env{t: t, provider: s.provider, idp: idp, base: base, ids: ids, svc: svc, health: checker, clock: clk, logs: logs}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so each hop of the flow can be checked (or tampered with).
type browser struct {
	t   testing.TB
	jar *cookiejar.Jar
	c   *http.Client
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, jar: jar, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches u and returns the response with its body read.
func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// start begins a sign-in and returns the provider's authorization URL.
func (e *env) start(b *browser, next string) string {
	e.t.Helper()
	u := e.base + "/auth/login/" + e.provider
	if next != "" {
		u += "?next=" + url.QueryEscape(next)
	}
	resp, body := b.get(u)
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("start: status %d: %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// authorize visits the provider, which approves at once; it returns the
// callback URL the provider redirects to.
func (e *env) authorize(b *browser, authURL string) string {
	e.t.Helper()
	resp, body := b.get(authURL)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, e.base+"/auth/callback/"+e.provider) {
		e.t.Fatalf("authorize: status %d, location %q: %s", resp.StatusCode, loc, body)
	}
	return loc
}

// signIn runs the whole flow and returns the callback's response.
func (e *env) signIn(b *browser, next string) (*http.Response, string) {
	e.t.Helper()
	return b.get(e.authorize(b, e.start(b, next)))
}

// me is GET /api/v1/me as the browser.
type me struct {
	User struct {
		ID       string   `json:"user_id"`
		Email    string   `json:"email"`
		Name     string   `json:"name"`
		Provider string   `json:"provider"`
		Roles    []string `json:"roles"`
	} `json:"user"`
	Auth struct {
		Method    string `json:"method"`
		SessionID string `json:"session_id"`
	} `json:"auth"`
}

func (e *env) me(b *browser) (int, me) {
	e.t.Helper()
	resp, body := b.get(e.base + "/api/v1/me")
	var m me
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			e.t.Fatalf("me: %v: %s", err, body)
		}
	}
	return resp.StatusCode, m
}

// failures returns the audited sign-in failure reasons, newest first.
func (e *env) failures() []string {
	e.t.Helper()
	es, _, err := e.ids.FindAudit(context.Background(), combine.AuditFilter{Action: combine.AuditLoginFailure})
	if err != nil {
		e.t.Fatalf("audit: %v", err)
	}
	var out []string
	for _, x := range es {
		out = append(out, x.Reason)
	}
	return out
}

// setCookie finds a Set-Cookie of resp by name.
func setCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// withQuery returns u with the query parameters changed by edit.
func withQuery(t testing.TB, u string, edit func(url.Values)) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	edit(q)
	p.RawQuery = q.Encode()
	return p.String()
}
