package login

import (
	"strings"
	"testing"
	"time"
)

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/executions/e1", "/executions/e1"},
		{"/x?y=1#z", "/x?y=1#z"},
		{"/%2F%2Fevil.com", "/%2F%2Fevil.com"}, // a path on our origin
		{"", "/"},
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{`/\evil.com`, "/"},
		{`/x\..\..\evil`, "/"},
		{"https://evil.com", "/"},
		{"HTTPS://evil.com/x", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.com", "/"},
		{"/\t/evil.com", "/"},
		{"/\n/evil.com", "/"},
		{"/" + strings.Repeat("a", maxNextLen), "/"},
	} {
		if got := SafeNext(tc.in); got != tc.want {
			t.Errorf("SafeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStateCodec(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	c := newStateCodec(strings.Repeat("k", 32), false)
	st := flowState{Provider: "oidc", State: "s", Nonce: "n", Verifier: "v", Next: "/x", Expires: now.Add(stateTTL).Unix()}
	v := c.cookie(st).Value

	if got, err := c.decode("oidc", v, now); err != nil || *got != st {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	payload, sig, _ := strings.Cut(v, ".")
	forged := flowState{Provider: "oidc", State: "attacker", Expires: st.Expires}
	other := newStateCodec(strings.Repeat("x", 32), false)
	for _, tc := range []struct {
		name, provider, value string
		at                    time.Time
		want                  error
	}{
		{"missing", "oidc", "", now, errStateMissing},
		{"no signature", "oidc", payload, now, errStateInvalid},
		{"bad signature", "oidc", payload + "." + sig[:len(sig)-2] + "AA", now, errStateInvalid},
		{"other key", "oidc", other.cookie(forged).Value, now, errStateInvalid},
		{"other provider's cookie", "google", v, now, errStateInvalid},
		{"expired", "oidc", v, now.Add(stateTTL), errStateExpired},
	} {
		if _, err := c.decode(tc.provider, tc.value, tc.at); err != tc.want {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}
