package login_test

import (
	"net/http"
	"testing"
)

// BenchmarkSignIn measures one complete browser sign-in on loopback: the
// redirect, the provider's approval, the code exchange with PKCE, ID token
// verification (RS256) and the login service's user and session writes.
func BenchmarkSignIn(b *testing.B) {
	e := newEnv(b, setup{})
	for b.Loop() {
		br := newBrowser(b)
		if resp, body := e.signIn(br, "/"); resp.StatusCode != http.StatusSeeOther {
			b.Fatalf("sign-in = %d: %s", resp.StatusCode, body)
		}
	}
}
