package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/server"
)

// echo is a module with the routes the middleware tests need.
func echo() routes {
	return routes{
		{Pattern: "GET /api/v1/x/{id}", Access: server.Public(), Handler: func(w http.ResponseWriter, r *http.Request) error {
			server.WriteJSON(w, http.StatusOK, map[string]string{
				"id":         r.PathValue("id"),
				"client":     combine.ClientAddrFromContext(r.Context()),
				"request_id": combine.RequestIDFromContext(r.Context()),
			})
			return nil
		}},
		{Pattern: "DELETE /api/v1/x/{id}", Access: server.RequirePermission(combine.PermAdmin), Handler: func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}},
		{Pattern: "POST /api/v1/echo", Access: server.Public(), Handler: func(w http.ResponseWriter, r *http.Request) error {
			var v map[string]any
			if err := server.DecodeJSON(r, &v); err != nil {
				return err
			}
			server.WriteJSON(w, http.StatusOK, v)
			return nil
		}},
		{Pattern: "GET /api/v1/panic", Access: server.Public(), Handler: func(w http.ResponseWriter, r *http.Request) error {
			panic("secret-internal-detail")
		}},
		{Pattern: "GET /api/v1/fail", Access: server.Public(), Handler: func(w http.ResponseWriter, r *http.Request) error {
			return io.ErrUnexpectedEOF
		}},
	}
}

func TestAPIErrorsAreJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, echo())
	tests := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"unknown path", "GET", "/api/v1/nope", 404, "not_found", ""},
		{"unknown root", "GET", "/api/", 404, "not_found", ""},
		{"wrong method", "POST", "/api/v1/x/1", 405, "method_not_allowed", "GET, DELETE"},
		{"wrong method on POST route", "GET", "/api/v1/echo", 405, "method_not_allowed", "POST"},
		{"protected without credentials", "DELETE", "/api/v1/x/1", 401, "unauthorized", ""},
		{"returned internal error", "GET", "/api/v1/fail", 500, "internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := f.do(t, tt.method, tt.path, nil, nil)
			e := decodeError(t, resp, tt.status, tt.code)
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			if e.Error.RequestID == "" || e.Error.RequestID != resp.Header.Get("X-Request-ID") {
				t.Errorf("request id %q in body, %q in header", e.Error.RequestID, resp.Header.Get("X-Request-ID"))
			}
			if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tt.status == 500 && (e.Error.Message != "internal error" || strings.Contains(f.logs.String(), `"error":"unexpected EOF"`) == false) {
				t.Errorf("500 message %q; the log must hold the cause", e.Error.Message)
			}
		})
	}
}

func TestPanicIsLoggedAnd500(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, echo())
	resp := f.do(t, "GET", "/api/v1/panic", nil, nil)
	e := decodeError(t, resp, 500, "internal")
	if e.Error.Message != "internal error" || strings.Contains(readBody(t, resp), "secret") {
		t.Errorf("panic detail reached the client: %+v", e.Error)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "secret-internal-detail") || !strings.Contains(logs, `"request_id":"`+e.Error.RequestID+`"`) {
		t.Errorf("panic not logged with request id %s:\n%s", e.Error.RequestID, logs)
	}
	// The server keeps serving.
	if resp := f.do(t, "GET", "/api/v1/x/1", nil, nil); resp.StatusCode != 200 {
		t.Errorf("after panic: status %d", resp.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config.Config) { c.MaxBodyBytes = 1024 }, echo())
	big := `{"a":"` + strings.Repeat("x", 2000) + `"}`
	// Declared length over the limit: refused before reading.
	decodeError(t, f.do(t, "POST", "/api/v1/echo", strings.NewReader(big), nil), 413, "payload_too_large")
	// Unknown length (chunked): refused while reading.
	body := io.MultiReader(strings.NewReader(big))
	decodeError(t, f.do(t, "POST", "/api/v1/echo", body, nil), 413, "payload_too_large")
	// Under the limit passes; bad JSON is 400.
	if resp := f.do(t, "POST", "/api/v1/echo", strings.NewReader(`{"a":1}`), nil); resp.StatusCode != 200 {
		t.Errorf("small body: %d %s", resp.StatusCode, readBody(t, resp))
	}
	decodeError(t, f.do(t, "POST", "/api/v1/echo", strings.NewReader(`{"a":`), nil), 400, "invalid_request")
	decodeError(t, f.do(t, "POST", "/api/v1/echo", bytes.NewReader(nil), map[string]string{"Content-Type": "text/plain"}), 400, "invalid_request")
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		f := newFixture(t, func(c *config.Config) { c.SessionSecureCookies = secure }, echo())
		for _, path := range []string{"/api/v1/x/1", "/api/v1/nope", "/health/live"} {
			resp := f.do(t, "GET", path, nil, nil)
			h := resp.Header
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" ||
				h.Get("Referrer-Policy") == "" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("%s: security headers missing: %v", path, h)
			}
			if got := h.Get("Strict-Transport-Security") != ""; got != secure {
				t.Errorf("%s secure=%v: HSTS present = %v", path, secure, got)
			}
		}
	}
}
