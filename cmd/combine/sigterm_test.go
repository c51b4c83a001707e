package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// TestSIGTERMUnderLoad sends SIGTERM to `combine serve` while clients
// create tokens (a row and its audit entry in one transaction) and read
// /api/v1/me as fast as they can. Every request must be answered in full
// (2xx, or 503 while draining) or refused at connect once the listener
// is closed — never cut off — and the database must hold exactly the
// tokens whose creation was answered 201, each with its audit entry.
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	dbURL := testdb.URL(t)
	env := baseEnv("DATABASE_URL="+dbURL, "SECRET_KEY="+strings.Repeat("s", 40), "LOG_LEVEL=WARN")
	if r := runCombine(t, env, "users", "create", "--email", "load@example.com", "--name", "Load", "--role", "operator"); r.code != 0 {
		t.Fatalf("users create: %+v", r)
	}
	r := runCombine(t, env, "tokens", "create", "--email", "load@example.com", "--name", "load", "--expires-in-days", "1")
	if r.code != 0 {
		t.Fatalf("tokens create: %+v", r)
	}
	token := strings.SplitN(r.stdout, "\n", 2)[0]
	p := startServe(t, "DATABASE_URL="+dbURL, "SECRET_KEY="+strings.Repeat("s", 40), "LOG_LEVEL=INFO",
		"SHUTDOWN_DELAY=300ms", "SHUTDOWN_TIMEOUT=10s")

	type outcome struct {
		route   string
		status  int
		tokenID string
		err     error
	}
	var mu sync.Mutex
	var outcomes []outcome
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second) // bounded whatever happens
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			refusals := 0
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				var req *http.Request
				o := outcome{route: "GET /api/v1/me"}
				if i%2 == 0 {
					o.route = "POST /api/v1/tokens"
					req, _ = http.NewRequest("POST", p.base+"/api/v1/tokens", strings.NewReader(fmt.Sprintf(`{"name":"load-%d-%d","expires_in_days":1}`, w, i)))
					req.Header.Set("Content-Type", "application/json")
				} else {
					req, _ = http.NewRequest("GET", p.base+"/api/v1/me", nil)
				}
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					o.status, o.err = resp.StatusCode, rerr
					if resp.StatusCode == 201 {
						var tok struct {
							ID string `json:"token_id"`
						}
						if jerr := json.Unmarshal(body, &tok); jerr != nil || tok.ID == "" {
							o.err = fmt.Errorf("201 with a body that is not a token: %q", body)
						}
						o.tokenID = tok.ID
					}
				} else {
					o.err = err
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				if err != nil && isRefused(err) {
					if refusals++; refusals >= 3 {
						return // the listener is closed: the server is gone
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(800 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exit := p.wait(t)
	close(stop)
	wg.Wait()
	if exit != 0 {
		t.Errorf("exit status %d after SIGTERM under load\n%s", exit, p.logText())
	}

	// Every request the server read, it logged (one access-log line per
	// request, written after the response); every one of those must have
	// reached its client in full. A request that failed at the client was
	// therefore never read: refused at connect once the listener closed,
	// or reset in the listen queue at that moment (TCP resets the
	// connections the kernel accepted but the server had not yet).
	answered201 := map[string]bool{}
	counts := map[string]int{}
	complete := map[string]int{}
	for _, o := range outcomes {
		switch {
		case o.err != nil && (isRefused(o.err) || isReset(o.err)):
			counts["refused or reset unread"]++
		case o.err != nil:
			t.Errorf("a request failed otherwise: %v", o.err)
		case o.status == 200 || o.status == 201 || o.status == 503:
			counts[fmt.Sprint(o.status)]++
			complete[o.route]++
			if o.tokenID != "" {
				answered201[o.tokenID] = true
			}
		default:
			t.Errorf("unexpected status %d during shutdown", o.status)
		}
	}
	logged := map[string]int{}
	p.mu.Lock()
	for _, l := range p.logs {
		if l["msg"] == "request" {
			if r, _ := l["route"].(string); r == "POST /api/v1/tokens" || r == "GET /api/v1/me" {
				logged[r]++
			}
		}
	}
	p.mu.Unlock()
	for _, r := range []string{"POST /api/v1/tokens", "GET /api/v1/me"} {
		if logged[r] != complete[r] {
			t.Errorf("%s: the server answered %d requests, clients received %d in full", r, logged[r], complete[r])
		}
	}
	t.Logf("outcomes: %v", counts)
	if len(answered201) < 10 {
		t.Fatalf("only %d tokens created before SIGTERM: the load did not run", len(answered201))
	}

	db, err := sqldb.Open(context.Background(), dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.R.QueryContext(context.Background(), `SELECT t.id,
		(SELECT COUNT(*) FROM audit_log a WHERE a.action = 'token.create' AND a.target = t.id)
		FROM tokens t WHERE t.name LIKE 'load-%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := 0
	for rows.Next() {
		var id string
		var audited int
		if err := rows.Scan(&id, &audited); err != nil {
			t.Fatal(err)
		}
		stored++
		if audited != 1 {
			t.Errorf("token %s has %d audit entries, want 1 (half-written)", id, audited)
		}
		if !answered201[id] {
			t.Errorf("token %s was stored but its creation was never answered", id)
		}
	}
	if stored != len(answered201) {
		t.Errorf("%d tokens stored, %d creations answered 201", stored, len(answered201))
	}
}

// isReset reports a connection reset before any response byte.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// isRefused reports a connection the server refused (its listener is
// closed): nothing was sent, so nothing can have happened.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
