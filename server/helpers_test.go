package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/internal/servertest"
	"github.com/thecombine/combine/internal/testlog"
	"github.com/thecombine/combine/server"
)

// logBuffer is a goroutine-safe log sink.
type logBuffer = testlog.Buffer

// routes are routes a test adds to the table.
type routes []server.Route

// fixture is a server with its handler, health registry and log.
type fixture struct {
	srv     *server.Server
	h       http.Handler
	checker *health.Checker
	logs    *logBuffer
}

// newFixture is a fully wired server (servertest) with extra test routes.
func newFixture(t *testing.T, mutate func(*config.Config), extra ...routes) *fixture {
	t.Helper()
	s := servertest.New(t, servertest.Options{Config: mutate, LogLevel: "INFO"})
	for _, rs := range extra {
		s.AddTestRoutes(rs...)
	}
	return &fixture{srv: s.Server, h: s.Handler(t), checker: s.Health, logs: s.Logs}
}

// do serves one request in process and returns the response.
func (f *fixture) do(t *testing.T, method, target string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	for k, v := range hdr {
		if k == "RemoteAddr" {
			r.RemoteAddr = v
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Result()
}

// apiError is the contract's error body.
type apiError struct {
	Error struct {
		Code               string `json:"code"`
		Message            string `json:"message"`
		RequiredPermission string `json:"required_permission"`
		RequestID          string `json:"request_id"`
	} `json:"error"`
}

// decodeError asserts a JSON error with status and code, and returns it.
func decodeError(t *testing.T, resp *http.Response, status int, code string) apiError {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON: %s", ct, b)
	}
	var e apiError
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("body is not the JSON error shape: %v: %s", err, b)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %q with a message", e.Error, code)
	}
	return e
}

// readBody returns the whole body as a string.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
