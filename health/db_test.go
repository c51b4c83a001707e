package health_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/internal/testdb"
	"github.com/thecombine/combine/sqldb"
)

// endpoints serves the health routes for db through the real server.
func endpoints(t *testing.T, db *sqldb.DB) http.Handler {
	t.Helper()
	return servertest.New(t, servertest.Options{DB: db, LogLevel: "ERROR"}).Handler(t)
}

// get serves GET path and decodes the JSON body.
func get(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: not JSON: %v: %s", path, err, w.Body)
	}
	return w.Code, body
}

func TestEndpointsOnDatabase(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t)
	h := endpoints(t, db)
	latest, err := sqldb.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}

	code, body := get(t, h, "/health")
	if code != 200 || body["status"] != "healthy" || body["version"] != "test" || body["environment"] != "development" {
		t.Fatalf("/health on %s: %d %v", testdb.Name(), code, body)
	}
	if _, err := time.Parse(time.RFC3339, body["timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	comps := body["components"].(map[string]any)
	dbc := comps["database"].(map[string]any)
	if dbc["status"] != "healthy" || dbc["details"].(map[string]any)["dialect"] != string(db.Dialect) {
		t.Errorf("database component %v", dbc)
	}
	if _, ok := dbc["latency_ms"].(float64); !ok {
		t.Errorf("database latency_ms missing: %v", dbc)
	}
	mig := comps["migrations"].(map[string]any)
	if v := mig["details"].(map[string]any)["version"]; mig["status"] != "healthy" || v != float64(latest) || latest < 1 {
		t.Errorf("migrations component %v, want version %d", mig, latest)
	}

	if code, body := get(t, h, "/health/live"); code != 200 || body["status"] != "alive" {
		t.Errorf("/health/live: %d %v", code, body)
	}
	if code, body := get(t, h, "/health/ready"); code != 200 || body["status"] != "ready" {
		t.Errorf("/health/ready: %d %v", code, body)
	}

	// A schema behind the binary degrades /health but keeps the service ready.
	if _, err := db.W.ExecContext(context.Background(), "DELETE FROM goose_db_version WHERE version_id = $1", latest); err != nil {
		t.Fatal(err)
	}
	code, body = get(t, h, "/health")
	if mig := body["components"].(map[string]any)["migrations"].(map[string]any); code != 200 || body["status"] != "degraded" ||
		!strings.Contains(mig["error"].(string), "run combine migrate") {
		t.Errorf("schema behind: %d %v", code, body)
	}

	// A closed database is unhealthy and not ready; liveness does not care.
	db.Close()
	if code, body := get(t, h, "/health"); code != 503 || body["status"] != "unhealthy" {
		t.Errorf("closed database: /health %d %v", code, body)
	}
	if code, body := get(t, h, "/health/ready"); code != 503 || body["status"] != "not_ready" {
		t.Errorf("closed database: /health/ready %d %v", code, body)
	}
	if code, _ := get(t, h, "/health/live"); code != 200 {
		t.Errorf("closed database: /health/live %d", code)
	}
}

// ownPostgres starts a PostgreSQL server for this test alone (the shared
// one must not be stopped) and returns its data dir and URL.
func ownPostgres(t *testing.T) (dir, url string) {
	t.Helper()
	if !testdb.Postgres() {
		t.Skip("needs PostgreSQL: set " + testdb.EnvPostgres + " (scripts/test.sh does)")
	}
	out, err := exec.Command(pgScript(t), "start").Output()
	if err != nil {
		t.Fatalf("pg.sh start: %v", err)
	}
	dir, url, _ = strings.Cut(strings.TrimSpace(string(out)), " ")
	t.Cleanup(func() { _ = exec.Command(pgScript(t), "stop", dir).Run() })
	return dir, url
}

func pgScript(t *testing.T) string {
	p, err := filepath.Abs("../scripts/pg.sh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func pg(t *testing.T, action, dir string) {
	defer func(s time.Time) { t.Logf("pg %s took %s", action, time.Since(s)) }(time.Now())
	t.Helper()
	if out, err := exec.Command(pgScript(t), action, dir).CombinedOutput(); err != nil {
		t.Fatalf("pg.sh %s: %v: %s", action, err, out)
	}
}

// waitFor polls path until it answers want, or fails after limit.
func waitFor(t *testing.T, h http.Handler, path string, want int, limit time.Duration) {
	defer func(s time.Time) { t.Logf("waitFor %s %d took %s", path, want, time.Since(s)) }(time.Now())
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, _ := get(t, h, path)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %d after %s, want %d", path, code, limit, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReadinessFollowsPostgres(t *testing.T) {
	t.Parallel()
	dir, url := ownPostgres(t)
	db, err := sqldb.Open(context.Background(), url, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := endpoints(t, db)
	waitFor(t, h, "/health/ready", 200, 0)

	// Stopped server: not ready; liveness unaffected.
	pg(t, "halt", dir)
	waitFor(t, h, "/health/ready", 503, 2*time.Second)
	if code, _ := get(t, h, "/health/live"); code != 200 {
		t.Errorf("liveness while PostgreSQL is down: %d", code)
	}
	pg(t, "resume", dir)
	waitFor(t, h, "/health/ready", 200, 5*time.Second)

	// Hung server (processes stopped): each probe answers 503 within 2 s
	// instead of hanging.
	pg(t, "freeze", dir)
	thawed := false
	t.Cleanup(func() {
		if !thawed {
			pg(t, "thaw", dir)
		}
	})
	for range 2 {
		start := time.Now()
		code, body := get(t, h, "/health/ready")
		if elapsed := time.Since(start); code != 503 || elapsed > 2*time.Second {
			t.Errorf("hung database: readiness %d %v after %s, want 503 within 2s", code, body, elapsed)
		}
	}
	start := time.Now()
	if code, _ := get(t, h, "/health/live"); code != 200 || time.Since(start) > time.Second {
		t.Errorf("liveness while the database hangs: %d after %s", code, time.Since(start))
	}
	pg(t, "thaw", dir)
	thawed = true
	waitFor(t, h, "/health/ready", 200, 5*time.Second)
}
