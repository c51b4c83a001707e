package server_test

import (
	"os"
	"testing"
)

// The load benchmark (real HTTP, separate processes, a bare net/http
// ceiling, both databases) is BenchmarkLoad in cmd/combine. These are the
// in-process costs of one request through the full middleware stack (no
// network), for profiling the request path:
//
//	go test -run '^$' -bench Handler -benchmem -cpuprofile cpu.out ./server/

// BenchmarkHandlerMe: authenticated GET /api/v1/me with a bearer token,
// served from the credential cache after the first request.
func BenchmarkHandlerMe(b *testing.B) {
	x := newIDHarness(b, map[string]string{"LOG_LEVEL": os.Getenv("LOAD_LOG_LEVEL")})
	tok, _ := x.token(b, "operator")
	b.ReportAllocs()
	for b.Loop() {
		if w := x.do("GET", "/api/v1/me", idCred{bearer: tok}, ""); w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkHandlerMeSession: the same with the session cookie.
func BenchmarkHandlerMeSession(b *testing.B) {
	x := newIDHarness(b, map[string]string{"LOG_LEVEL": os.Getenv("LOAD_LOG_LEVEL")})
	cookie := x.session(b, "operator")
	b.ReportAllocs()
	for b.Loop() {
		if w := x.do("GET", "/api/v1/me", idCred{cookie: cookie}, ""); w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkHandlerLive is the same for the unauthenticated liveness probe.
func BenchmarkHandlerLive(b *testing.B) {
	x := newIDHarness(b, map[string]string{"LOG_LEVEL": os.Getenv("LOAD_LOG_LEVEL")})
	b.ReportAllocs()
	for b.Loop() {
		if w := x.do("GET", "/health/live", idCred{}, ""); w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
