package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thecombine/combine/internal/testdb"
)

// BenchmarkEventStreams measures what open event streams cost the rest of
// the API: `combine serve` (the binary as the Dockerfile builds it) on
// SQLite (or PostgreSQL with COMBINE_TEST_POSTGRES_URL), an authenticated
// GET /api/v1/me measured for p50/p99 without streams, then with
// COMBINE_BENCH_STREAMS (default 2,000) open streams spread over 20
// executions, and the resident memory per stream. The clients run in this
// process, on the same machine.
//
//	go test -run '^$' -bench EventStreams -benchtime 1x ./cmd/combine
func BenchmarkEventStreams(b *testing.B) {
	n := 2000
	if v := os.Getenv("COMBINE_BENCH_STREAMS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	db := "sqlite://" + filepath.Join(b.TempDir(), "combine.db")
	if testdb.Postgres() {
		db = testdb.URL(b)
	}
	key := "SECRET_KEY=" + strings.Repeat("s", 40)
	env := baseEnv("DATABASE_URL="+db, key, "LOG_LEVEL=WARN")
	if r := runCombine(b, env, "users", "create", "--email", "bench@example.com", "--name", "Bench", "--role", "operator"); r.code != 0 {
		b.Fatalf("users create: %+v", r)
	}
	r := runCombine(b, env, "tokens", "create", "--email", "bench@example.com", "--name", "bench")
	if r.code != 0 {
		b.Fatalf("tokens create: %+v", r)
	}
	token := strings.SplitN(r.stdout, "\n", 2)[0]
	p := startServe(b, "DATABASE_URL="+db, key, "LOG_LEVEL=INFO",
		"EVENTS_MAX_STREAMS="+strconv.Itoa(n+100), "EVENTS_MAX_STREAMS_PER_USER="+strconv.Itoa(n+100))
	defer p.stop(b)

	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	api := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	call := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := api.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var buf strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&buf)
		return resp.StatusCode, []byte(buf.String())
	}
	var execs []string
	for i := 0; i < 20; i++ {
		code, body := call("POST", "/api/v1/workflows/software_product_development/executions", fmt.Sprintf(`{"project_id":"bench-%d"}`, i))
		var e struct {
			ID string `json:"execution_id"`
		}
		if code != 201 || json.Unmarshal(body, &e) != nil || e.ID == "" {
			b.Fatalf("start execution: %d %s", code, body)
		}
		execs = append(execs, e.ID)
	}
	time.Sleep(2 * time.Second) // let the runner bring them to waiting_input

	// latency measures GET /api/v1/me from 2 clients for d.
	latency := func(d time.Duration) (p50, p99 time.Duration, count int) {
		var mu sync.Mutex
		var all []time.Duration
		var wg sync.WaitGroup
		end := time.Now().Add(d)
		for range 2 {
			wg.Go(func() {
				var mine []time.Duration
				for time.Now().Before(end) {
					t0 := time.Now()
					if code, body := call("GET", "/api/v1/me", ""); code != 200 {
						b.Errorf("me: %d %s", code, body)
						return
					}
					mine = append(mine, time.Since(t0))
					time.Sleep(2 * time.Millisecond) // a steady load, not a saturating one
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(all)
		return all[len(all)/2], all[len(all)*99/100], len(all)
	}
	call("GET", "/api/v1/me", "") // warm up
	rssBefore := vmRSS(b, p.cmd.Process.Pid)
	p50a, p99a, na := latency(10 * time.Second)

	// Open the streams; each waits for its first event.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableKeepAlives: true}}
	var opened, failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", p.base+"/api/v1/executions/"+execs[i%len(execs)]+"/events", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := streamClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
				<-sem
				if err == nil {
					resp.Body.Close()
				}
				return
			}
			defer resp.Body.Close()
			rd := bufio.NewReader(resp.Body)
			first := true
			for {
				line, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				if first && strings.HasPrefix(line, "id: ") {
					first = false
					opened.Add(1)
					<-sem
				}
			}
		})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for opened.Load()+failed.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if failed.Load() > 0 || opened.Load() < int64(n) {
		b.Fatalf("%d streams open, %d failed", opened.Load(), failed.Load())
	}
	time.Sleep(3 * time.Second)
	rssWith := vmRSS(b, p.cmd.Process.Pid)
	p50b, p99b, nb := latency(10 * time.Second)
	cancel()
	wg.Wait()

	b.ReportMetric(float64(p50a.Microseconds())/1000, "ms-p50-idle")
	b.ReportMetric(float64(p99a.Microseconds())/1000, "ms-p99-idle")
	b.ReportMetric(float64(p50b.Microseconds())/1000, "ms-p50-streams")
	b.ReportMetric(float64(p99b.Microseconds())/1000, "ms-p99-streams")
	b.ReportMetric(float64(rssWith-rssBefore)/float64(n), "KiB-RSS/stream")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s, %d streams: GET /api/v1/me p50 %s → %s, p99 %s → %s (%d / %d requests); RSS %d → %d KiB",
		testdb.Name(), n, p50a, p50b, p99a, p99b, na, nb, rssBefore, rssWith)
}
