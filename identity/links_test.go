package identity_test

import (
	"slices"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
)

func TestSetupLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old, _, ok, err := e.svc.CreateSetupLink(e.ctx)
	if err != nil || !ok {
		t.Fatalf("first setup link: %v %v", ok, err)
	}
	secret, _, ok, err := e.svc.CreateSetupLink(e.ctx)
	if err != nil || !ok {
		t.Fatal(err)
	}
	// A newer setup link supersedes the older one.
	_, err = e.svc.InspectLink(e.ctx, old)
	mustCode(t, err, combine.EUNAUTHORIZED)
	info, err := e.svc.InspectLink(e.ctx, secret)
	if err != nil || info.Purpose != combine.LinkPurposeSetup {
		t.Fatalf("inspect: %+v %v", info, err)
	}
	// A setup link is not a login link, and bad form values keep it usable.
	_, _, _, err = e.svc.LoginWithLink(e.ctx, secret, combine.LoginRequest{})
	mustCode(t, err, combine.EINVALID)
	_, _, _, err = e.svc.CompleteSetup(e.ctx, secret, "Ann", "not-an-email", combine.LoginRequest{})
	mustCode(t, err, combine.EINVALID)
	_, _, _, err = e.svc.CompleteSetup(e.ctx, secret, " ", "ann@example.com", combine.LoginRequest{})
	mustCode(t, err, combine.EINVALID)

	u, sess, cookie, err := e.svc.CompleteSetup(e.ctx, secret, "Ann", "Ann@example.com", combine.LoginRequest{ClientAddr: "192.0.2.9"})
	if err != nil || !slices.Equal(u.Roles, []string{"admin"}) || u.Email != "ann@example.com" || sess.UserID != u.ID {
		t.Fatalf("setup: %+v %v", u, err)
	}
	a, err := e.authSession(cookie)
	if err != nil || !a.Can(combine.PermUserManage) {
		t.Fatalf("first admin auth: %+v %v", a, err)
	}
	// Single use, and no more setup links once an admin exists.
	_, _, _, err = e.svc.CompleteSetup(e.ctx, secret, "Eve", "eve@example.com", combine.LoginRequest{})
	mustCode(t, err, combine.ECONFLICT)
	if _, _, ok, err := e.svc.CreateSetupLink(e.ctx); ok || err != nil {
		t.Fatalf("setup link issued while an admin exists: %v %v", ok, err)
	}
	if es := e.audit(t, combine.AuditLinkUse); len(es) != 1 || es[0].ClientAddr != "192.0.2.9" {
		t.Fatalf("link use audit = %+v", es)
	}
}

func TestSetupLinkRefusedOnceAdminExists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret, _, _, _ := e.svc.CreateSetupLink(e.ctx)
	e.mustUser(t, "root@example.com", "admin")
	_, _, _, err := e.svc.CompleteSetup(e.ctx, secret, "Eve", "eve@example.com", combine.LoginRequest{})
	mustCode(t, err, combine.ECONFLICT)
	// Expired setup link.
	e2 := newEnv(t)
	s2, _, _, _ := e2.svc.CreateSetupLink(e2.ctx)
	e2.clock.Advance(31 * time.Minute)
	_, _, _, err = e2.svc.CompleteSetup(e2.ctx, s2, "Ann", "ann@example.com", combine.LoginRequest{})
	mustCode(t, err, combine.EUNAUTHORIZED)
}

func TestAuditFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.mustUser(t, "root@example.com", "admin")
	ctx := combine.NewContextWithAuth(e.ctx, &combine.AuthContext{UserID: admin.ID, Email: admin.Email})
	for i := range 5 {
		e.clock.Advance(time.Minute)
		if err := e.svc.RecordAudit(ctx, combine.AuditEntry{Action: "test.event", Target: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	mid := e.clock.Now().Add(-2*time.Minute + time.Second)
	tests := []struct {
		name string
		f    combine.AuditFilter
		want string
	}{
		{"by action", combine.AuditFilter{Action: "test.event"}, "edcba"},
		{"by actor id", combine.AuditFilter{Actor: admin.ID, Action: "test.event"}, "edcba"},
		{"by actor email", combine.AuditFilter{Actor: "root@example.com", Action: "test.event"}, "edcba"},
		{"other actor", combine.AuditFilter{Actor: "someone", Action: "test.event"}, ""},
		{"since", combine.AuditFilter{Action: "test.event", Since: mid}, "ed"},
		{"until", combine.AuditFilter{Action: "test.event", Until: mid}, "cba"},
	}
	for _, tt := range tests {
		es, _, err := e.svc.FindAudit(e.ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, x := range es {
			got += x.Target
		}
		if got != tt.want {
			t.Fatalf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	// Pagination walks every entry once, newest first.
	var got string
	f := combine.AuditFilter{Action: "test.event", Limit: 2}
	for {
		es, next, err := e.svc.FindAudit(e.ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range es {
			got += x.Target
		}
		if next == "" {
			break
		}
		f.Before = next
	}
	if got != "edcba" {
		t.Fatalf("pages = %q", got)
	}
}

func TestLinkGuessingRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustUser(t, "g@example.com", "viewer")
	e.svc.Limiter().SetLimit(identity.Limit{Burst: 2, Per: time.Minute})
	good, _, _ := e.svc.CreateLoginLink(e.ctx, "g@example.com")
	ctx := combine.NewContextWithClientAddr(e.ctx, "203.0.113.50")
	for range 2 {
		_, err := e.svc.InspectLink(ctx, "guess")
		mustCode(t, err, combine.EUNAUTHORIZED)
	}
	_, _, _, err := e.svc.LoginWithLink(ctx, good, combine.LoginRequest{})
	mustCode(t, err, combine.ERATELIMITED)
	before := len(e.audit(t, combine.AuditLoginFailure))
	for range 5 {
		_, _, _, _ = e.svc.LoginWithLink(ctx, "guess", combine.LoginRequest{})
	}
	if after := len(e.audit(t, combine.AuditLoginFailure)); after != before {
		t.Fatalf("rate-limited attempts flooded the audit log: %d → %d", before, after)
	}
	// Another address is unaffected.
	if _, _, _, err := e.svc.LoginWithLink(combine.NewContextWithClientAddr(e.ctx, "203.0.113.51"), good, combine.LoginRequest{}); err != nil {
		t.Fatal(err)
	}
}
