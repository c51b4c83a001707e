package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/internal/testdb"
)

// TestNoSecretAtRest drives every path that issues a credential — setup
// and login links, link sign-in, external login, tokens over the API and
// the service, logout, revocation, failed use — then searches the
// database and the captured logs for any of the secrets (the hashes must
// be there, which shows the search can find what it looks for).
func TestNoSecretAtRest(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	ctx := t.Context()
	var secrets []string

	setup, _, ok, err := x.svc.CreateSetupLink(ctx)
	if err != nil || ok { // an admin exists in the harness
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, setup)
	}
	link, _, _ := x.svc.CreateLoginLink(ctx, "operator@example.com")
	secrets = append(secrets, link)
	x.do("GET", "/auth/link/"+link, cred{}, "")
	w := x.do("POST", "/auth/link/"+link, cred{}, "")
	cookie := strings.TrimPrefix(strings.SplitN(w.Header().Get("Set-Cookie"), ";", 2)[0], "combine_session=")
	if cookie == "" || w.Code != 303 {
		t.Fatalf("link sign-in: %d", w.Code)
	}
	secrets = append(secrets, cookie)
	x.do("POST", "/auth/link/"+link, cred{}, "") // reuse: refused, logged

	w = x.do("POST", "/api/v1/tokens", cred{cookie: cookie}, `{"name":"api"}`)
	var created struct {
		Token string `json:"token"`
		ID    string `json:"token_id"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &created)
	if !strings.HasPrefix(created.Token, "pat_") {
		t.Fatalf("create token: %s", w.Body.String())
	}
	secrets = append(secrets, created.Token)
	x.do("GET", "/api/v1/me", cred{bearer: created.Token}, "")
	x.do("GET", "/api/v1/me?access_token="+created.Token, cred{}, "")
	x.do("DELETE", "/api/v1/tokens/"+created.ID, cred{cookie: cookie}, "")
	x.do("GET", "/api/v1/me", cred{bearer: created.Token}, "") // revoked: 401, logged

	_, _, ext, err := x.svc.LoginExternal(ctx, combine.ExternalIdentity{Provider: "oidc", Issuer: "https://idp.test", Subject: "s1",
		Email: "ext@example.com", EmailVerified: true}, combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, ext)
	x.do("GET", "/api/v1/users", cred{cookie: ext}, "") // 403, audited
	x.do("POST", "/auth/logout", cred{cookie: ext}, "")
	x.do("GET", "/api/v1/me", cred{cookie: ext}, "")
	secrets = append(secrets, x.secrets...)

	stored, logs := testdb.Dump(t, x.db), x.logs.String()
	if !strings.Contains(logs, `"status":401`) || !strings.Contains(stored, hashOf(created.Token)) {
		t.Fatal("the search cannot see the logs or the stored hashes")
	}
	for _, s := range secrets {
		if strings.Contains(stored, s) {
			t.Errorf("a secret (%s…) is stored in the database", s[:6])
		}
		if strings.Contains(logs, s) {
			t.Errorf("a secret (%s…) is in the logs", s[:6])
		}
		// Not even a long fragment of it.
		if frag := s[len(s)/2-8 : len(s)/2+8]; strings.Contains(stored, frag) || strings.Contains(logs, frag) {
			t.Errorf("a fragment of a secret (%s…) leaked", s[:6])
		}
	}
}
