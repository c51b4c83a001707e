package combine_test

import (
	"context"
	"testing"

	"github.com/thecombine/combine"
)

// TestRequestContext: the request id and the client address travel
// together, and setting one keeps the other (identity sets the address of
// a sign-in on a context that already names the request).
func TestRequestContext(t *testing.T) {
	ctx := context.Background()
	if id, addr := combine.RequestIDFromContext(ctx), combine.ClientAddrFromContext(ctx); id != "" || addr != "" {
		t.Fatalf("empty context: %q, %q", id, addr)
	}
	m := &combine.RequestMeta{ID: "req1", ClientAddr: "203.0.113.9"}
	ctx = combine.NewContextWithRequest(ctx, m)
	if id, addr := combine.RequestIDFromContext(ctx), combine.ClientAddrFromContext(ctx); id != "req1" || addr != "203.0.113.9" {
		t.Fatalf("with request: %q, %q", id, addr)
	}
	moved := combine.NewContextWithClientAddr(ctx, "198.51.100.1")
	if id, addr := combine.RequestIDFromContext(moved), combine.ClientAddrFromContext(moved); id != "req1" || addr != "198.51.100.1" {
		t.Errorf("after NewContextWithClientAddr: %q, %q", id, addr)
	}
	renamed := combine.NewContextWithRequestID(moved, "req2")
	if id, addr := combine.RequestIDFromContext(renamed), combine.ClientAddrFromContext(renamed); id != "req2" || addr != "198.51.100.1" {
		t.Errorf("after NewContextWithRequestID: %q, %q", id, addr)
	}
	if id, addr := combine.RequestIDFromContext(ctx), combine.ClientAddrFromContext(ctx); id != "req1" || addr != "203.0.113.9" || m.ClientAddr != "203.0.113.9" {
		t.Errorf("the parent context changed: %q, %q", id, addr)
	}
}
