package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine/internal/testdb"
)

// bareServerEnv makes the test binary serve bareJSONHandler on the
// address it holds instead of running tests (see TestMain), so that the
// ceiling runs in its own process like `combine serve`.
const bareServerEnv = "COMBINE_BENCH_BARE_ADDR"

// serveBare serves the bare handler until killed.
func serveBare(addr string) int {
	if err := http.ListenAndServe(addr, bareJSONHandler()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// BenchmarkLoad measures, side by side in one run, a bare net/http JSON
// handler (the ceiling), GET /health/live, and authenticated GET
// /api/v1/me with a personal access token and with a session cookie, each
// served by its own process (`combine serve` built like the image, at its
// default settings and log level) over loopback HTTP/1.1 keep-alive
// connections, on SQLite and — when COMBINE_TEST_POSTGRES_URL is set — on
// PostgreSQL. The targets take turns in short rounds so that they all see
// the same background load. It prints req/s, the ratio to the ceiling,
// p50/p99 latency and the server's resident memory under load.
//
//	go test -run '^$' -bench Load -benchtime 1x ./cmd/combine
//
// LOAD_CONNECTIONS (64), LOAD_SECONDS per target (6), LOAD_ROUNDS (6) and
// LOAD_LOG_LEVEL (the server's default, INFO) tune it.
func BenchmarkLoad(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		dir := b.TempDir()
		benchLoad(b, "sqlite://"+filepath.Join(dir, "combine.db"))
	})
	if testdb.Postgres() {
		b.Run("postgres", func(b *testing.B) { benchLoad(b, testdb.URL(b)) })
	}
}

func benchLoad(b *testing.B, databaseURL string) {
	conns := envInt("LOAD_CONNECTIONS", 64)
	rounds := envInt("LOAD_ROUNDS", 6)
	secs, _ := strconv.ParseFloat(os.Getenv("LOAD_SECONDS"), 64)
	if secs <= 0 {
		secs = 6
	}
	round := time.Duration(secs * float64(time.Second) / float64(rounds))

	env := baseEnv("DATABASE_URL="+databaseURL, "SECRET_KEY=0123456789abcdef0123456789abcdef")
	if lvl := os.Getenv("LOAD_LOG_LEVEL"); lvl != "" {
		env = append(env, "LOG_LEVEL="+lvl)
	}
	if r := runCombine(b, env, "users", "create", "--email", "load@example.com", "--name", "Load", "--role", "operator"); r.code != 0 {
		b.Fatalf("users create: %d %s", r.code, r.stderr)
	}
	r := runCombine(b, env, "tokens", "create", "--email", "load@example.com", "--name", "load")
	if r.code != 0 {
		b.Fatalf("tokens create: %d %s", r.code, r.stderr)
	}
	token := strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[0])

	bare := startProcess(b, os.Args[0], []string{"-test.run=^$"}, baseEnv(bareServerEnv+"={addr}"), "/live")
	srv := startProcess(b, binary, []string{"serve"}, append(env, "ADDR={addr}"), "/health/ready")
	cookie := signIn(b, env, srv.addr)

	targets := []loadTarget{
		{name: "bare net/http", addr: bare.addr, path: "/live"},
		{name: "GET /health/live", addr: srv.addr, path: "/health/live"},
		{name: "GET /api/v1/me (token)", addr: srv.addr, path: "/api/v1/me", headers: map[string]string{"Authorization": "Bearer " + token}},
		{name: "GET /api/v1/me (session)", addr: srv.addr, path: "/api/v1/me", headers: map[string]string{"Cookie": "combine_session=" + cookie}},
	}
	results := make([]loadResult, len(targets))
	loadBefore := loadAverage()
	maxRSS := 0
	for b.Loop() {
		for _, t := range targets { // warm-up: connections, caches, the heap
			if _, err := runLoad(t, conns, round/2); err != nil {
				b.Fatalf("%s: %v", t.name, err)
			}
		}
		for range rounds {
			for i, t := range targets {
				res, err := runLoad(t, conns, round)
				if err != nil {
					b.Fatalf("%s: %v", t.name, err)
				}
				results[i].add(res)
				if t.addr == srv.addr {
					maxRSS = max(maxRSS, vmRSS(b, srv.cmd.Process.Pid))
				}
			}
		}
	}
	base := results[0].rate()
	w := os.Stdout
	fmt.Fprintf(w, "\n%s: %d connections, %d rounds of %s per target, load average before %s, after %s\n",
		dialectOf(databaseURL), conns, rounds, round, loadBefore, loadAverage())
	fmt.Fprintf(w, "%-26s %10s %7s %9s %9s\n", "target", "req/s", "ratio", "p50", "p99")
	for i, t := range targets {
		res := &results[i]
		fmt.Fprintf(w, "%-26s %10.0f %7.2f %9s %9s\n", t.name, res.rate(), res.rate()/base,
			res.percentile(0.50).Round(10*time.Microsecond), res.percentile(0.99).Round(10*time.Microsecond))
	}
	fmt.Fprintf(w, "combine serve RSS under load: max %.1f MB; credential cache: %s\n", float64(maxRSS)/1024, cacheStats(b, srv.addr))
	b.ReportMetric(base, "bare_req/s")
	for i, key := range []string{"", "live", "me_token", "me_session"} {
		if key == "" {
			continue
		}
		b.ReportMetric(results[i].rate()/base, key+"_ratio")
		b.ReportMetric(float64(results[i].percentile(0.99).Microseconds())/1000, key+"_p99_ms")
	}
	b.ReportMetric(float64(maxRSS)/1024, "RSS_MB")
	b.ReportMetric(0, "ns/op")
}

// cacheStats summarizes the server's credential cache from /health: the
// steady state should read the database about once per credential and TTL.
func cacheStats(b *testing.B, addr string) string {
	b.Helper()
	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Components map[string]struct {
			Details map[string]any `json:"details"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		b.Fatal(err)
	}
	d := h.Components["cache"].Details
	return fmt.Sprintf("%v hits, %v misses (database reads), hit rate %v", d["hits"], d["misses"], d["hit_rate"])
}

// loadAverage is the machine's 1-minute load average: on a shared machine
// it says how much the figures can be trusted.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func dialectOf(databaseURL string) string {
	scheme, _, _ := strings.Cut(databaseURL, ":")
	return scheme
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchProcess is a server started for the benchmark.
type benchProcess struct {
	cmd  *exec.Cmd
	addr string
}

// startProcess runs path with args on a free loopback port (substituted
// for {addr} in env), its output in a file, and waits until ready answers 200.
func startProcess(b *testing.B, path string, args, env []string, ready string) *benchProcess {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for i := range env {
		env[i] = strings.ReplaceAll(env[i], "{addr}", addr)
	}
	dir := b.TempDir()
	out, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, dir, out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
	})
	client := &http.Client{Timeout: time.Second}
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := client.Get("http://" + addr + ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &benchProcess{cmd: cmd, addr: addr}
			}
		}
		if time.Since(start) > 30*time.Second {
			log, _ := os.ReadFile(out.Name())
			b.Fatalf("%s not ready after 30s:\n%s", path, log)
		}
	}
}

// signIn opens a session through a one-time sign-in link and returns the
// session cookie's value.
func signIn(b *testing.B, env []string, addr string) string {
	b.Helper()
	r := runCombine(b, env, "users", "login-link", "--email", "load@example.com")
	if r.code != 0 {
		b.Fatalf("login-link: %d %s", r.code, r.stderr)
	}
	link, err := url.Parse(strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[0]))
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Post("http://"+addr+link.Path, "application/x-www-form-urlencoded", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == "combine_session" {
			return c.Value
		}
	}
	b.Fatalf("sign-in link: %d without a session cookie", resp.StatusCode)
	return ""
}
