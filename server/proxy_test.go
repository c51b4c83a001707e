package server_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/server"
)

func TestRequestIDAndClientAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}, echo())
	tests := []struct {
		name, remote, xff, xrid string
		wantClient              string
		wantID                  string // "" means a generated one
	}{
		{"direct client", "203.0.113.9:5000", "", "", "203.0.113.9", ""},
		{"untrusted sender's headers ignored", "203.0.113.9:5000", "198.51.100.1", "spoofed-id", "203.0.113.9", ""},
		{"trusted proxy", "10.1.2.3:5000", "198.51.100.1", "proxy-id-1", "198.51.100.1", "proxy-id-1"},
		{"chain of trusted proxies", "10.1.2.3:5000", "198.51.100.1, 10.9.9.9", "", "198.51.100.1", ""},
		{"client cannot prepend a fake address", "10.1.2.3:5000", "1.1.1.1, 198.51.100.1", "", "198.51.100.1", ""},
		{"unusable proxy id replaced", "10.1.2.3:5000", "", "bad id\twith<chars>", "198.51.100.1", ""},
		{"overlong proxy id replaced", "10.1.2.3:5000", "", strings.Repeat("a", 200), "10.1.2.3", ""},
	}
	t.Cleanup(func() {
		// The access log names the request id and the real client.
		logs := f.logs.String()
		if !strings.Contains(logs, `"request_id":"proxy-id-1"`) || !strings.Contains(logs, `"client":"198.51.100.1"`) {
			t.Errorf("access log lacks request id or client:\n%s", logs)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hdr := map[string]string{"RemoteAddr": tt.remote}
			if tt.xff != "" {
				hdr["X-Forwarded-For"] = tt.xff
			}
			if tt.xrid != "" {
				hdr["X-Request-ID"] = tt.xrid
			}
			if tt.name == "unusable proxy id replaced" {
				hdr["X-Forwarded-For"] = "198.51.100.1"
			}
			resp := f.do(t, "GET", "/api/v1/x/1", nil, hdr)
			var got map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got["client"] != tt.wantClient {
				t.Errorf("client = %q, want %q", got["client"], tt.wantClient)
			}
			id := resp.Header.Get("X-Request-ID")
			if id != got["request_id"] {
				t.Errorf("header id %q, handler saw %q", id, got["request_id"])
			}
			switch {
			case tt.wantID != "" && id != tt.wantID:
				t.Errorf("request id = %q, want %q", id, tt.wantID)
			case tt.wantID == "" && (id == "" || id == tt.xrid):
				t.Errorf("request id = %q, want a generated one", id)
			}
		})
	}
}

func TestMetricsByRoutePattern(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, echo())
	for _, p := range []string{"/api/v1/x/123", "/api/v1/x/456", "/api/v1/nope/789"} {
		f.do(t, "GET", p, nil, nil).Body.Close()
	}
	f.do(t, "BREW", "/api/v1/x/123", nil, nil).Body.Close()
	body := readBody(t, f.do(t, "GET", "/metrics", nil, nil))
	for _, want := range []string{
		`combine_http_requests_total{method="GET",route="GET /api/v1/x/{id}",status="200"} 2`,
		`combine_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`combine_http_requests_total{method="OTHER",route="unmatched",status="405"} 1`,
		`combine_http_request_duration_seconds_bucket{method="GET",route="GET /api/v1/x/{id}",le="+Inf"} 2`,
		`combine_http_requests_in_flight`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Only label values can carry a raw path or method; sample values
	// (a latency sum such as 0.000123109) may contain any digits.
	for _, line := range strings.Split(body, "\n") {
		open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
		if !strings.HasPrefix(line, "combine_http_") || open < 0 || end < open {
			continue
		}
		labels := line[open:end]
		for _, raw := range []string{"123", "456", "789", "BREW"} {
			if strings.Contains(labels, raw) {
				t.Errorf("a metric label holds the raw path/method part %q: %s", raw, line)
			}
		}
	}
}

func TestRouteTableValidation(t *testing.T) {
	t.Parallel()
	ok := func(w http.ResponseWriter, r *http.Request) error { return nil }
	tests := []struct {
		name  string
		route server.Route
	}{
		{"no access declared", server.Route{Pattern: "GET /api/v1/open", Handler: ok}},
		{"unknown permission", server.Route{Pattern: "GET /api/v1/p", Access: server.RequirePermission("execution:everything"), Handler: ok}},
		{"no method", server.Route{Pattern: "/api/v1/any", Access: server.Public(), Handler: ok}},
		{"no handler", server.Route{Pattern: "GET /api/v1/h", Access: server.Public()}},
		{"duplicate", server.Route{Pattern: "GET /health", Access: server.Public(), Handler: ok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := servertest.New(t, servertest.Options{})
			srv.AddTestRoutes(tt.route)
			if _, err := srv.Server.Handler(); err == nil {
				t.Fatalf("route %+v accepted", tt.route)
			}
		})
	}
}

func TestCrossOriginRefusedAsJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, echo())
	resp := f.do(t, "POST", "http://combine.test/api/v1/echo", strings.NewReader(`{}`), map[string]string{
		"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/json",
	})
	decodeError(t, resp, 403, "forbidden")
	// Same-origin and non-browser clients pass.
	resp = f.do(t, "POST", "http://combine.test/api/v1/echo", strings.NewReader(`{}`), map[string]string{
		"Origin": "http://combine.test", "Sec-Fetch-Site": "same-origin",
	})
	if resp.StatusCode != 200 {
		t.Errorf("same-origin POST: %d", resp.StatusCode)
	}
	if resp := f.do(t, "POST", "/api/v1/echo", strings.NewReader(`{}`), nil); resp.StatusCode != 200 {
		t.Errorf("non-browser POST: %d", resp.StatusCode)
	}
	// Behind a proxy that rewrites Host, PUBLIC_URL's origin is trusted.
	resp = f.do(t, "POST", "http://10.0.0.7:8000/api/v1/echo", strings.NewReader(`{}`), map[string]string{
		"Origin": f.srv.Config().PublicURL, "Sec-Fetch-Site": "cross-site",
	})
	if resp.StatusCode != 200 {
		t.Errorf("POST from PUBLIC_URL's origin through a Host-rewriting proxy: %d", resp.StatusCode)
	}
}

func TestSecretPathNotLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.do(t, "GET", "/auth/link/s3cr3t-one-time", nil, nil).Body.Close()
	f.do(t, "PUT", "/auth/link/s3cr3t-wrong-method", nil, nil).Body.Close() // no route matches
	f.do(t, "GET", "/api/v1/things/th_42", nil, nil).Body.Close()
	logs := f.logs.String()
	if strings.Contains(logs, "s3cr3t") || !strings.Contains(logs, `"path":"GET /auth/link/{secret}"`) {
		t.Errorf("secret path logged:\n%s", logs)
	}
	if !strings.Contains(logs, `"path":"/auth/link/…"`) {
		t.Errorf("unmatched secret path not redacted to its fixed part:\n%s", logs)
	}
	if !strings.Contains(logs, `"path":"/api/v1/things/th_42"`) {
		t.Errorf("ordinary path not logged:\n%s", logs)
	}
}
