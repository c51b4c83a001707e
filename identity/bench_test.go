package identity_test

import (
	"testing"

	"github.com/thecombine/combine"
)

// BenchmarkAuthenticatePAT measures per-request bearer-token
// authentication: checksum, hash, one indexed read joined with the owner,
// permissions recomputed (last_used_at is written at most once a minute).
func BenchmarkAuthenticatePAT(b *testing.B) {
	e := newEnv(b)
	u := e.mustUser(b, "bench@example.com", "operator")
	_, tok, err := e.svc.CreateToken(e.ctx, u.ID, combine.TokenCreate{Name: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := combine.Credentials{Bearer: tok, HasAuthorization: true, ClientAddr: "192.0.2.1"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.svc.Authenticate(e.ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateSession measures per-request cookie authentication.
func BenchmarkAuthenticateSession(b *testing.B) {
	e := newEnv(b)
	_, _, secret, err := e.svc.LoginExternal(e.ctx, ident("bench", "bench@example.com"), combine.LoginRequest{})
	if err != nil {
		b.Fatal(err)
	}
	c := combine.Credentials{Session: secret, ClientAddr: "192.0.2.1"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.svc.Authenticate(e.ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticatePATParallel is the same under concurrent requests.
func BenchmarkAuthenticatePATParallel(b *testing.B) {
	e := newEnv(b)
	u := e.mustUser(b, "bench@example.com", "operator")
	_, tok, _ := e.svc.CreateToken(e.ctx, u.ID, combine.TokenCreate{Name: "bench"}, nil)
	c := combine.Credentials{Bearer: tok, HasAuthorization: true, ClientAddr: "192.0.2.1"}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.svc.Authenticate(e.ctx, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
