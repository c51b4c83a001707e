package identity_test

import (
	"context"
	"testing"
	"time"

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

// BenchmarkAuthenticateCached is a request whose credential is in the
// credential cache (the steady state): checksum, hash, one map lookup,
// expiry checks, no database read.
func BenchmarkAuthenticateCached(b *testing.B) {
	in := cluster(b, 1, &clock{t: time.Now().UTC()})[0]
	ctx := context.Background()
	u, err := in.svc.CreateUser(ctx, combine.UserCreate{Email: "bench@example.com", Roles: []string{"operator"}})
	if err != nil {
		b.Fatal(err)
	}
	_, tok, err := in.svc.CreateToken(ctx, u.ID, combine.TokenCreate{Name: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	link, _, err := in.svc.CreateLoginLink(ctx, u.Email)
	if err != nil {
		b.Fatal(err)
	}
	_, _, secret, err := in.svc.LoginWithLink(ctx, link, combine.LoginRequest{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cred combine.Credentials
	}{
		{"pat", combine.Credentials{Bearer: tok, HasAuthorization: true, ClientAddr: "192.0.2.1"}},
		{"session", combine.Credentials{Session: secret, ClientAddr: "192.0.2.1"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			misses := in.svc.Cache().Stats().Misses
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := in.svc.Authenticate(ctx, c.cred); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if m := in.svc.Cache().Stats().Misses - misses; m > 1 {
				b.Fatalf("%d database reads: the credential was not served from the cache", m)
			}
		})
	}
}
