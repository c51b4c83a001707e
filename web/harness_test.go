package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/engine/enginetest"
	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/internal/oidctest"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/internal/testlog"
	"github.com/thecombine/combine/llm"
	"github.com/thecombine/combine/login"
	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/sqldb"
	"github.com/thecombine/combine/web"
	"github.com/thecombine/combine/workflow"
)

// people of the browser tests: their OpenID identity and their roles.
var people = map[string]struct {
	user  oidctest.User
	roles []string
}{
	"alice":  {oidctest.User{Subject: "alice-sub", Email: "alice@example.com", EmailVerified: true, Name: "Alice Admin"}, []string{combine.RoleAdmin, "pm", "architect"}},
	"bob":    {oidctest.User{Subject: "bob-sub", Email: "bob@example.com", EmailVerified: true, Name: "Bob Operator"}, []string{combine.RoleOperator, "ba"}},
	"victor": {oidctest.User{Subject: "victor-sub", Email: "victor@example.com", EmailVerified: true, Name: "Victor Viewer"}, []string{combine.RoleViewer}},
}

// world is the real server — identity, login through a real OpenID
// provider, the workflow registry, the engine with its runner — behind
// httptest, as `combine serve` wires it.
type world struct {
	t     *testing.T
	base  string
	idp   *oidctest.Provider
	ids   *identity.Service
	eng   *engine.Service
	users map[string]*combine.User
	logs  *testlog.Buffer
	// notifier wakes waiters when an execution's events change.
	notifier *events.Notifier
	// routes is the server's whole route table.
	routes []server.Route
	// db is the server's database (the LLM cost ledger is written there
	// directly: no LLM worker runs here).
	db *sqldb.DB
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	idp := oidctest.New(t, people["alice"].user, oidctest.Options{})
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	cfg, err := config.Load(config.FromMap(map[string]string{
		"SECRET_KEY": strings.Repeat("s", 40), "PUBLIC_URL": base, "LOG_LEVEL": "ERROR",
		"OIDC_ISSUER": idp.URL, "OIDC_CLIENT_ID": idp.ClientID, "OIDC_CLIENT_SECRET": idp.ClientSecret, "OIDC_NAME": "Test IdP",
	}))
	if err != nil {
		t.Fatal(err)
	}
	idp.AllowRedirect(base + "/auth/callback/oidc")

	db := testdb.Open(t)
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ids := identity.New(db, identity.OptionsFromConfig(cfg), logger)
	users := map[string]*combine.User{}
	wfs, err := workflow.Load(workflow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := events.NewNotifier(db, logger)
	eng, err := engine.New(engine.Config{
		DB: db, Workflows: wfs, Worker: enginetest.AskingPerson{Step: "epic_backlog"}, Logger: logger, Audit: ids,
		InstanceID: "web-" + t.Name(), PollInterval: 20 * time.Millisecond, OnEvent: n.Wake, Subscribe: n.Subscribe,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(sctx)
		_ = n.Stop(sctx)
	})

	reg := prometheus.NewRegistry()
	checker := health.NewChecker("test", cfg.Environment)
	srv := server.New(cfg, logger, checker, reg)
	srv.Authn = ids
	srv.Hooks.Denied = ids.RecordDenied
	srv.Identity = server.IdentityDeps{Login: ids, Users: ids, Sessions: ids, Tokens: ids, Links: ids, Audit: ids}
	srv.Login = server.LoginDeps{Service: login.New(ctx, cfg, ids, login.Options{Logger: logger, Registerer: reg})}
	srv.Engine = server.EngineDeps{Workflows: wfs, Executions: eng, Documents: eng, Events: eng, Steps: eng,
		Costs: &llm.Costs{DB: db}, EventWaker: n, EventPoll: 100 * time.Millisecond, EventKeepalive: time.Second}
	if _, err := web.Mount(srv, web.Options{Costs: web.LedgerCosts(srv.Engine.Costs)}); err != nil {
		t.Fatal(err)
	}
	h, err := srv.Handler()
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	return &world{t: t, base: base, idp: idp, ids: ids, eng: eng, users: users, logs: logs, notifier: n, routes: srv.Routes(), db: db}
}

// grant gives a person who signed in (a new user, with the default
// viewer role) their roles, as an administrator would.
func (w *world) grant(name string) {
	w.t.Helper()
	us, err := w.ids.FindUsers(context.Background(), combine.UserFilter{Email: people[name].user.Email})
	if err != nil || len(us) != 1 {
		w.t.Fatalf("find %s: %v (%d users)", name, err, len(us))
	}
	roles := people[name].roles
	u, err := w.ids.UpdateUser(context.Background(), us[0].ID, combine.UserUpdate{Roles: &roles})
	if err != nil {
		w.t.Fatalf("grant %s: %v", name, err)
	}
	w.users[name] = u
}

// as returns a context acting as a person, for moving an execution
// along through the engine where the browser is not what is tested.
func (w *world) as(name string) context.Context {
	return w.asUser(w.users[name])
}

// asUser returns a context acting as u.
func (w *world) asUser(u *combine.User) context.Context {
	return combine.NewContextWithAuth(context.Background(), &combine.AuthContext{
		UserID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, Method: combine.AuthMethodSession,
		Permissions: combine.PermissionsForRoles(u.Roles),
	})
}

// chromium finds Debian's Chromium; the test is skipped without it only
// when CI has not asked for it (scripts/test.sh installs it and sets
// COMBINE_REQUIRE_BROWSER).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("COMBINE_REQUIRE_BROWSER") != "" {
		t.Fatal("Chromium is required (COMBINE_REQUIRE_BROWSER is set) but not installed")
	}
	t.Skip("Chromium is not installed (scripts/test.sh installs it)")
	return ""
}

// newBrowser starts one headless Chromium for the test (a fresh profile,
// no network beyond loopback) and returns its root context; each person
// gets a separate browser context (own cookies) from session.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("no-proxy-server", true),
		// A headless window counts as hidden: without these, Chromium
		// throttles its frames and timers, and paints late.
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(io.Discard),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// tab is one person's browser window.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	w    *world
}

func (w *world) tab(browser context.Context, name string) *tab {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	w.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		w.t.Fatalf("open a window for %s: %v", name, err)
	}
	return &tab{t: w.t, name: name, ctx: ctx, w: w}
}

// do runs actions with a bound, so a missing element fails the test
// instead of hanging it.
func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// eval evaluates JavaScript and returns its value.
func evalIn[T any](b *tab, js string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		b.t.Fatalf("%s: evaluate %.200q: %v", b.name, js, err)
	}
	return v
}

// waitJS waits until a JavaScript condition holds (polled on DOM changes
// and every 50 ms), bounded in time.
func (b *tab) waitJS(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		// A navigation ends a poll (its page is gone): poll the new page.
		ctx, cancel := context.WithDeadline(b.ctx, deadline)
		var ok bool
		ok, err = chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil && ok {
			return
		}
		if b.ctx.Err() != nil {
			break
		}
	}
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText.slice(0, 3000) : ''"))
	b.t.Fatalf("%s: waiting for %s: %v\nat %s, page text:\n%s", b.name, what, err, b.location(), text)
}

// click clicks an element as a person would (the element's click(),
// which submits forms and runs their validation); what follows waits for
// its effect with waitJS.
func click(sel string) chromedp.Action[chromedp.Void] {
	b, _ := json.Marshal(sel)
	return chromedp.Evaluate[chromedp.Void](`(() => { const el = document.querySelector(` + string(b) + `); if (!el) throw new Error('no element ' + ` + string(b) + `); el.click(); })()`)
}

// setValue sets a field's value as typing would (with an input event).
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	bs, _ := json.Marshal(sel)
	bv, _ := json.Marshal(v)
	return chromedp.Evaluate[chromedp.Void](`(() => { const el = document.querySelector(` + string(bs) + `); if (!el) throw new Error('no element ' + ` + string(bs) + `);
		el.value = ` + string(bv) + `; el.dispatchEvent(new Event('input', {bubbles: true})); })()`)
}

// location is the tab's current URL.
func (b *tab) location() string {
	b.t.Helper()
	return evalIn[string](b, "location.href")
}

// open navigates and waits for the page to be ready.
func (b *tab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.w.base+path), chromedp.WaitReady("body"))
}

// signIn goes to path signed out, follows the sign-in page's provider
// button through the real OpenID provider, and checks it is brought back.
func (b *tab) signIn(path string) {
	b.t.Helper()
	b.w.idp.SetUser(people[b.name].user)
	b.open(path)
	if !strings.Contains(b.location(), "/auth/login?next=") {
		b.t.Fatalf("%s: anonymous %s went to %s, want the sign-in page", b.name, path, b.location())
	}
	b.do("sign in", chromedp.Evaluate[chromedp.Void](`document.querySelector('a.button').click()`))
	b.waitJS("signed in", `location.pathname !== '/auth/login' && !location.pathname.startsWith('/auth/callback') && document.readyState === 'complete' && !!document.querySelector('#main')`)
	if got := strings.TrimPrefix(b.location(), b.w.base); got != path {
		b.t.Fatalf("%s: after sign-in at %s, want to be brought back to %s", b.name, got, path)
	}
	b.w.grant(b.name)
	b.open(path)
}

// screenshot saves the page as an artifact (COMBINE_SCREENSHOTS, else a
// directory under the system's temporary directory).
func (b *tab) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("COMBINE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "combine-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
