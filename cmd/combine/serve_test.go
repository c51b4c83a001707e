package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

func TestServeLifecycle(t *testing.T) {
	t.Parallel()
	p := startServe(t, "DATABASE_URL="+testdb.URL(t), "SHUTDOWN_DELAY=2s", "SHUTDOWN_TIMEOUT=5s")

	latest, _ := sqldb.LatestVersion()
	code, body := getJSON(t, p.base+"/health")
	mig, _ := body["components"].(map[string]any)["migrations"].(map[string]any)
	if code != 200 || body["status"] != "healthy" || body["version"] != testVersion ||
		mig["details"].(map[string]any)["version"] != float64(latest) {
		t.Fatalf("/health on %s: %d %v", testdb.Name(), code, body)
	}
	if code, body := getJSON(t, p.base+"/api/v1/nope"); code != 404 || body["error"] == nil {
		t.Errorf("unknown API path: %d %v", code, body)
	}
	resp, err := http.Get(p.base + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %v %v", resp, err)
	}
	resp.Body.Close()

	// SIGTERM: readiness turns 503 during the drain delay, then exit 0.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for {
		code, body := getJSON(t, p.base+"/health/ready")
		if code == 503 && body["status"] == "not_ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness still %d after SIGTERM", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if exit := p.wait(t); exit != 0 {
		t.Errorf("exit status %d after SIGTERM\n%s", exit, p.logText())
	}
	if p.findLog("shutdown complete") == nil {
		t.Errorf("no shutdown log\n%s", p.logText())
	}
	// Access log: one JSON line per request, with a request id.
	req := p.findLog("request")
	if req == nil || req["request_id"] == "" || req["route"] == nil || req["status"] == nil {
		t.Errorf("access log line %v", req)
	}
	if strings.Contains(p.logText(), "NOT JSON") {
		t.Errorf("non-JSON log line with LOG_FORMAT=json:\n%s", p.logText())
	}
}

func TestServeRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	r := runCombine(t, baseEnv("ENVIRONMENT=staging", "MAX_BODY_BYTES=lots"), "serve")
	if r.code != 1 || !strings.Contains(r.stderr, "SECRET_KEY") || !strings.Contains(r.stderr, "MAX_BODY_BYTES") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestServeRefusesASecondServerOnOneSQLiteFile: two servers on one SQLite
// file would run the same jobs twice, so the second refuses to start.
func TestServeRefusesASecondServerOnOneSQLiteFile(t *testing.T) {
	t.Parallel()
	if testdb.Postgres() {
		t.Skip("PostgreSQL instances share the work; the guard is for SQLite")
	}
	url := testdb.URL(t)
	first := startServe(t, "DATABASE_URL="+url)
	r := runCombine(t, baseEnv("DATABASE_URL="+url, "ADDR=127.0.0.1:0"), "serve")
	if r.code != 1 || !strings.Contains(r.stderr, "another combine serve is using the SQLite database") {
		t.Fatalf("second serve: exit %d, stderr %q", r.code, r.stderr)
	}
	if code := first.stop(t); code != 0 {
		t.Fatalf("first serve exited %d", code)
	}
	// Once the first is gone, a new server starts on the same file.
	startServe(t, "DATABASE_URL="+url).stop(t)
}
