package login_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/thecombine/combine"
)

// TestCallbackFloodAggregated (finding 2): a client looping on the
// callback without a flow cookie adds one audit entry and one WARN line,
// and when the window ends one more of each with the count — not one per
// request.
func TestCallbackFloodAggregated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	const n = 300
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := 0; i < n; i++ {
		resp, err := c.Get(e.base + "/auth/callback/oidc?state=x&code=y")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback without a flow cookie: %d", resp.StatusCode)
		}
	}
	entries := func() []*combine.AuditEntry {
		es, _, err := e.ids.FindAudit(t.Context(), combine.AuditFilter{Action: combine.AuditLoginFailure, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	if es := entries(); len(es) != 1 || es[0].Reason != "state_cookie" {
		t.Fatalf("%d login.failure entries during the flood, want 1: %+v", len(es), es)
	}
	e.ids.FlushAudit() // as the end of the window does
	es := entries()
	if len(es) != 2 {
		t.Fatalf("%d login.failure entries after the window, want 2", len(es))
	}
	if got, _ := es[0].Details["repeated"].(float64); int(got) != n-1 {
		t.Fatalf("aggregated entry %+v, want repeated = %d", es[0], n-1)
	}
	logs := e.logs.String()
	warns := 0
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "login.failure") {
			warns++
		}
	}
	if warns != 2 {
		t.Fatalf("%d WARN lines for %d refused callbacks, want 2 (the first and the count)", warns, n)
	}
}
