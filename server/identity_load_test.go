package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadRun sends GETs to url from n concurrent keep-alive clients for d and
// returns the completed requests per second (non-200 answers fail b).
func loadRun(b *testing.B, url string, hdr http.Header, n int, d time.Duration) float64 {
	b.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var done, bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header = hdr.Clone()
				resp, err := client.Do(req)
				if err != nil {
					continue // the deadline
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad.Add(1)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		b.Fatalf("%s: %d non-200 answers", url, bad.Load())
	}
	return float64(done.Load()) / time.Since(start).Seconds()
}

// BenchmarkLoadMeVsLive runs authenticated GET /api/v1/me (bearer token)
// and unauthenticated GET /health/live over real loopback HTTP in the same
// run, alternating, and reports both rates and their ratio (target ≥ 0.60).
// LOAD_SECONDS (default 4, split over 10 alternating rounds) and LOAD_CONCURRENCY (default
// 4×GOMAXPROCS) tune it; LOAD_SESSION=1 uses the session cookie instead.
func BenchmarkLoadMeVsLive(b *testing.B) {
	x := newIDHarness(b, map[string]string{"LOG_LEVEL": os.Getenv("LOAD_LOG_LEVEL")})
	tok, _ := x.token(b, "operator")
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	if os.Getenv("LOAD_SESSION") == "1" {
		hdr = http.Header{"Cookie": {"combine_session=" + x.session(b, "operator")}}
	}
	ts := httptest.NewServer(x.h)
	defer ts.Close()
	secs, _ := strconv.ParseFloat(os.Getenv("LOAD_SECONDS"), 64)
	if secs <= 0 {
		secs = 4
	}
	conc, _ := strconv.Atoi(os.Getenv("LOAD_CONCURRENCY"))
	if conc <= 0 {
		conc = 4 * runtime.GOMAXPROCS(0)
	}
	// Many short alternating phases, so that both endpoints see the same
	// background load (a shared machine otherwise decides the ratio).
	const rounds = 10
	d := time.Duration(secs * float64(time.Second) / (2 * rounds))
	var me, live float64
	for b.Loop() {
		me, live = 0, 0
		loadRun(b, ts.URL+"/health/live", nil, conc, d) // warm-up
		for range rounds {
			live += loadRun(b, ts.URL+"/health/live", nil, conc, d) / rounds
			me += loadRun(b, ts.URL+"/api/v1/me", hdr, conc, d) / rounds
		}
	}
	b.ReportMetric(me, "me_req/s")
	b.ReportMetric(live, "live_req/s")
	b.ReportMetric(me/live, "ratio")
	fmt.Fprintf(os.Stderr, "load: GET /api/v1/me %.0f req/s, GET /health/live %.0f req/s, ratio %.2f (concurrency %d)\n", me, live, me/live, conc)
}

// BenchmarkHandlerMe is the in-process cost of one authenticated
// GET /api/v1/me through the full middleware stack (no network).
func BenchmarkHandlerMe(b *testing.B) {
	x := newIDHarness(b, map[string]string{"LOG_LEVEL": os.Getenv("LOAD_LOG_LEVEL")})
	tok, _ := x.token(b, "operator")
	b.ReportAllocs()
	for b.Loop() {
		if w := x.do("GET", "/api/v1/me", cred{bearer: tok}, ""); w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkHandlerLive is the same for the unauthenticated liveness probe.
func BenchmarkHandlerLive(b *testing.B) {
	x := newIDHarness(b, map[string]string{"LOG_LEVEL": os.Getenv("LOAD_LOG_LEVEL")})
	b.ReportAllocs()
	for b.Loop() {
		if w := x.do("GET", "/health/live", cred{}, ""); w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
