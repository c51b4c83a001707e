package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine/internal/oidctest"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/internal/testlog"
)

// loginLogBuffer is an io.Writer safe for the server's concurrent logging.
type loginLogBuffer = testlog.Buffer

// TestServeSignsInWithOIDC runs `combine serve` configured for an OpenID
// provider on loopback and signs in through it, as a browser would
// (following redirects with a cookie jar): wiring, routes, health and the
// session cookie all come from the real start-up path.
func TestServeSignsInWithOIDC(t *testing.T) {
	idp := oidctest.New(t, oidctest.User{Subject: "s-1", Email: "root@example.com", EmailVerified: true, Name: "Root"}, oidctest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	idp.AllowRedirect(base + "/auth/callback/oidc")
	for k, v := range map[string]string{
		"DATABASE_URL": testdb.URL(t), "ADDR": addr, "PUBLIC_URL": base, "SECRET_KEY": strings.Repeat("w", 40),
		"OIDC_ISSUER": idp.URL, "OIDC_CLIENT_ID": idp.ClientID, "OIDC_CLIENT_SECRET": idp.ClientSecret,
		"OIDC_NAME": "Corp SSO", "ADMIN_EMAILS": "root@example.com", "LOG_LEVEL": "INFO",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &loginLogBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, &cliEnv{stdout: io.Discard, stderr: logs}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, logs.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("serve did not stop")
		}
	})

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	loginWaitReady(t, c, base, done, logs)

	var health struct {
		Components map[string]struct{ Status string } `json:"components"`
	}
	loginGetJSON(t, c, base+"/health", &health)
	if health.Components["login_oidc"].Status != "healthy" {
		t.Fatalf("health components = %+v, want login_oidc healthy", health.Components)
	}
	resp, err := c.Get(base + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Sign in with Corp SSO") {
		t.Fatalf("sign-in page: %s", page)
	}
	// The whole flow, ending on the next path: /api/v1/me.
	var me struct {
		User struct {
			Email string   `json:"email"`
			Roles []string `json:"roles"`
		} `json:"user"`
	}
	loginGetJSON(t, c, base+"/auth/login/oidc?next=/api/v1/me", &me)
	if me.User.Email != "root@example.com" || !strings.Contains(strings.Join(me.User.Roles, ","), "admin") {
		t.Fatalf("signed in as %+v, want root@example.com with admin (ADMIN_EMAILS)", me.User)
	}
}

func loginWaitReady(t *testing.T, c *http.Client, base string, done chan int, logs *loginLogBuffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited %d:\n%s", code, logs.String())
		default:
		}
		if resp, err := c.Get(base + "/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server not ready:\n%s", logs.String())
}

func loginGetJSON(t *testing.T, c *http.Client, u string, v any) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
}
