package identity_test

import (
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
)

// TestFailureWindows: repeats within a window become one entry with their
// count when the window ends; a flood that goes on adds one entry per
// window; after a quiet window the next failure is recorded at once.
func TestFailureWindows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *identity.Options) { o.AuditWindow = time.Second })
	ctx := combine.NewContextWithClientAddr(e.ctx, "198.51.100.9")
	fail := func() {
		e.svc.RecordFailure(ctx, combine.AuditEntry{Action: combine.AuditLoginFailure, Actor: "anonymous", Reason: "state_cookie"})
	}
	count := func() ([]*combine.AuditEntry, int) {
		es, _, err := e.svc.FindAudit(e.ctx, combine.AuditFilter{Action: combine.AuditLoginFailure})
		if err != nil {
			t.Fatal(err)
		}
		return es, len(es)
	}
	for range 50 {
		fail()
	}
	if _, n := count(); n != 1 {
		t.Fatalf("%d entries at once, want 1", n)
	}
	waitUntil(t, 5*time.Second, func() bool { _, n := count(); return n == 2 })
	es, _ := count()
	if r, _ := es[0].Details["repeated"].(float64); r != 49 || es[0].Outcome != combine.OutcomeFailure {
		t.Fatalf("window entry %+v, want repeated 49", es[0])
	}
	// The flood goes on in the next window: one more entry, no new "first".
	for range 10 {
		fail()
	}
	waitUntil(t, 5*time.Second, func() bool { _, n := count(); return n == 3 })
	es, _ = count()
	if r, _ := es[0].Details["repeated"].(float64); r != 10 {
		t.Fatalf("second window entry %+v, want repeated 10", es[0])
	}
	// A quiet window ends the aggregation: the next failure is immediate.
	time.Sleep(2500 * time.Millisecond)
	fail()
	if _, n := count(); n != 4 {
		t.Fatalf("%d entries after a quiet window, want 4", n)
	}
}

func waitUntil(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
