package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/testdb"
)

// cli runs the binary's entry point in-process and returns its exit status
// and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &cliEnv{stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

func identityEnv(t *testing.T) {
	t.Helper()
	t.Setenv("DATABASE_URL", testdb.URL(t))
	t.Setenv("SECRET_KEY", strings.Repeat("c", 40))
	t.Setenv("PUBLIC_URL", "https://combine.example.com")
	t.Setenv("LOG_LEVEL", "WARN")
}

func TestUsersAndTokensCommands(t *testing.T) {
	identityEnv(t)
	code, out, errs := cli(t, "users", "create", "--email", "Ann@Example.com", "--name", "Ann", "--role", "admin", "--role", "pm,qa")
	var u combine.User
	if code != 0 || json.Unmarshal([]byte(out), &u) != nil || u.Email != "ann@example.com" || strings.Join(u.Roles, ",") != "admin,pm,qa" {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	// Creating again updates the roles of the same user.
	code, out, _ = cli(t, "users", "create", "--email", "ann@example.com", "--role", "admin")
	var again combine.User
	if code != 0 || json.Unmarshal([]byte(out), &again) != nil || again.ID != u.ID || strings.Join(again.Roles, ",") != "admin" {
		t.Fatalf("update: %d %q", code, out)
	}
	cli(t, "users", "create", "--email", "bob@example.com", "--role", "viewer")
	code, out, _ = cli(t, "users", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[1], `"bob@example.com"`) {
		t.Fatalf("list: %d %q", code, out)
	}

	code, out, errs = cli(t, "tokens", "create", "--email", "bob@example.com", "--name", "ci", "--expires-in-days", "7", "--scope", "workflow:read")
	first := strings.SplitN(out, "\n", 2)[0]
	if code != 0 || !regexp.MustCompile(`^pat_[0-9A-Za-z]{49}$`).MatchString(first) || strings.Contains(errs, first) {
		t.Fatalf("tokens create: %d %q %q", code, out, errs)
	}

	code, out, _ = cli(t, "users", "login-link", "--email", "bob@example.com")
	if code != 0 || !regexp.MustCompile(`^https://combine\.example\.com/auth/link/[A-Za-z0-9_-]{43}\n$`).MatchString(out) {
		t.Fatalf("login-link: %d %q", code, out)
	}

	bad := []struct {
		args []string
		code int
	}{
		{[]string{"users", "create", "--email", "x@example.com", "--role", "wizard"}, 2},
		{[]string{"users", "create", "--role", "viewer"}, 2},
		{[]string{"users", "create", "--email", "x@example.com"}, 2},
		{[]string{"users", "create", "--email", "not-an-email", "--role", "viewer"}, 2},
		{[]string{"users", "create", "--email", "x@example.com", "--role", "viewer", "--bogus"}, 2},
		{[]string{"users", "frobnicate"}, 2},
		{[]string{"users"}, 2},
		{[]string{"tokens", "create", "--email", "bob@example.com"}, 2},
		{[]string{"tokens", "create", "--email", "bob@example.com", "--name", "x", "--scope", "root"}, 2},
		{[]string{"tokens", "create", "--email", "bob@example.com", "--name", "x", "--expires-in-days", "9999"}, 2},
		{[]string{"tokens", "create", "--email", "bob@example.com", "--name", "x", "--expires-in-days", "soon"}, 2},
		{[]string{"tokens", "create", "--email", "bob@example.com", "--name", "x", "--scope", "user:manage"}, 1},
		{[]string{"tokens", "create", "--email", "nobody@example.com", "--name", "x"}, 1},
		{[]string{"tokens", "list"}, 2},
		{[]string{"users", "login-link", "--email", "nobody@example.com"}, 1},
		{[]string{"users", "login-link"}, 2},
	}
	for _, b := range bad {
		code, out, errs := cli(t, b.args...)
		if code != b.code || out != "" || strings.Count(strings.TrimSpace(errs), "\n") != 0 || errs == "" {
			t.Errorf("%v: exit %d (want %d), stdout %q, stderr %q", b.args, code, b.code, out, errs)
		}
	}
}

// TestServeSetupLink starts `combine serve` on an empty database and
// follows the setup link it logs, as a newcomer's browser would: the GET
// shows a form without using the link, the POST makes the opener admin.
func TestServeSetupLink(t *testing.T) {
	identityEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	t.Setenv("ADDR", addr)
	t.Setenv("PUBLIC_URL", base)
	logs := &loginLogBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, &cliEnv{stdout: io.Discard, stderr: logs}) }()
	defer func() {
		cancel()
		<-done
	}()
	var link string
	for deadline := time.Now().Add(30 * time.Second); link == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`"setup_url":"([^"]+)"`).FindStringSubmatch(logs.String()); m != nil {
			if resp, err := http.Get(base + "/health/live"); err == nil {
				resp.Body.Close()
				link = m[1]
			}
		}
	}
	if !strings.HasPrefix(link, base+"/auth/link/") {
		t.Fatalf("no setup link logged: %s", logs.String())
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	for range 2 { // a prefetching scanner's GET must not use the link up
		resp, err := client.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `name="email"`) {
			t.Fatalf("setup page: %d %s", resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest("POST", link, strings.NewReader(url.Values{"name": {"Newcomer"}, "email": {"new@example.com"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup POST: %d", resp.StatusCode)
	}
	resp, err = client.Get(base + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		User struct {
			Email string   `json:"email"`
			Roles []string `json:"roles"`
		} `json:"user"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != 200 || me.User.Email != "new@example.com" || strings.Join(me.User.Roles, ",") != "admin" {
		t.Fatalf("me after setup: %d %+v", resp.StatusCode, me)
	}
	// The link is spent.
	resp, _ = client.Get(link)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("used setup link: %d", resp.StatusCode)
	}
}
