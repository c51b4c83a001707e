package identity_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
)

func intp(n int) *int { return &n }

func TestTokenFormat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.mustUser(t, "f@example.com", "viewer")
	tok, text, err := e.svc.CreateToken(e.ctx, u.ID, combine.TokenCreate{Name: "ci"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^pat_[0-9A-Za-z]{49}$`).MatchString(text) || !identity.ValidTokenFormat(text) {
		t.Fatalf("token %q has the wrong shape", text)
	}
	if tok.Display != text[:7]+"..."+text[len(text)-4:] || strings.Contains(tok.Display, text[7:len(text)-4]) {
		t.Fatalf("display = %q", tok.Display)
	}
	// Look-alikes fail the checksum offline: change one character.
	for _, i := range []int{4, 20, len(text) - 1} {
		b := []byte(text)
		b[i] = map[bool]byte{true: 'A', false: 'B'}[b[i] != 'A']
		if identity.ValidTokenFormat(string(b)) {
			t.Fatalf("altered token (pos %d) passes the checksum", i)
		}
	}
	last := "x"
	if strings.HasSuffix(text, last) {
		last = "y" // really alter it: the token may end in x already
	}
	if _, err := e.authToken(text[:len(text)-1] + last); combine.ErrorCode(err) != combine.EUNAUTHORIZED {
		t.Fatalf("altered token: %v", err)
	}
	// Two tokens never collide.
	_, text2, _ := e.svc.CreateToken(e.ctx, u.ID, combine.TokenCreate{Name: "ci2"}, nil)
	if text2 == text {
		t.Fatal("same token twice")
	}
}

func TestTokenExpiryRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // default 90, max 365
	u := e.mustUser(t, "x@example.com", "viewer")
	now := e.clock.Now()
	tests := []struct {
		days *int
		want time.Time
		code string
	}{
		{nil, now.AddDate(0, 0, 90), ""},
		{intp(1), now.AddDate(0, 0, 1), ""},
		{intp(365), now.AddDate(0, 0, 365), ""},
		{intp(366), time.Time{}, combine.EINVALID},
		{intp(0), time.Time{}, combine.EINVALID},
		{intp(-1), time.Time{}, combine.EINVALID},
	}
	for _, tt := range tests {
		tok, _, err := e.svc.CreateToken(e.ctx, u.ID, combine.TokenCreate{Name: "t", ExpiresInDays: tt.days}, nil)
		if tt.code != "" {
			mustCode(t, err, tt.code)
			continue
		}
		if err != nil || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(tt.want) {
			t.Fatalf("days %v: %+v %v", tt.days, tok, err)
		}
	}
	_, _, err := e.svc.CreateToken(e.ctx, u.ID, combine.TokenCreate{Name: "  "}, nil)
	mustCode(t, err, combine.EINVALID)

	unlimited := newEnv(t, func(o *identity.Options) { o.PATMaxExpiryDays = 0 })
	v := unlimited.mustUser(t, "y@example.com", "viewer")
	tok, text, err := unlimited.svc.CreateToken(unlimited.ctx, v.ID, combine.TokenCreate{Name: "forever", ExpiresInDays: intp(0)}, nil)
	if err != nil || tok.ExpiresAt != nil {
		t.Fatalf("no-expiry token: %+v %v", tok, err)
	}
	unlimited.clock.Advance(100 * 365 * 24 * time.Hour)
	if _, err := unlimited.authToken(text); err != nil {
		t.Fatal(err)
	}

	// Expiry takes effect.
	_, text, _ = e.svc.CreateToken(e.ctx, u.ID, combine.TokenCreate{Name: "short", ExpiresInDays: intp(1)}, nil)
	if _, err := e.authToken(text); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(24 * time.Hour)
	_, err = e.authToken(text)
	mustCode(t, err, combine.EUNAUTHORIZED)
}

func TestTokenScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	op := e.mustUser(t, "op@example.com", "operator")
	ownerPerms := combine.PermissionsForRoles(op.Roles)

	// A scope the creator lacks is refused, naming it.
	_, _, err := e.svc.CreateToken(e.ctx, op.ID, combine.TokenCreate{Name: "x", Scopes: []combine.Permission{combine.PermExecutionCancel}}, ownerPerms)
	mustCode(t, err, combine.EFORBIDDEN)
	if err.(*combine.Error).Permission != string(combine.PermExecutionCancel) {
		t.Fatalf("error does not name the permission: %+v", err)
	}
	_, _, err = e.svc.CreateToken(e.ctx, op.ID, combine.TokenCreate{Name: "x", Scopes: []combine.Permission{"execution:everything"}}, ownerPerms)
	mustCode(t, err, combine.EINVALID)

	// Effective = current role permissions ∩ scopes.
	_, scoped, err := e.svc.CreateToken(e.ctx, op.ID, combine.TokenCreate{Name: "read",
		Scopes: []combine.Permission{combine.PermExecutionRead, combine.PermWorkflowExecute}}, ownerPerms)
	if err != nil {
		t.Fatal(err)
	}
	_, full, _ := e.svc.CreateToken(e.ctx, op.ID, combine.TokenCreate{Name: "full"}, ownerPerms)
	a, err := e.authToken(scoped)
	if err != nil || !slices.Equal(a.Permissions.List(), []combine.Permission{combine.PermExecutionRead, combine.PermWorkflowExecute}) || a.Method != "pat" || a.TokenID == "" {
		t.Fatalf("scoped auth = %+v %v", a, err)
	}
	// Demotion acts at once on both tokens.
	viewer := []string{"viewer"}
	if _, err := e.svc.UpdateUser(e.ctx, op.ID, combine.UserUpdate{Roles: &viewer}); err != nil {
		t.Fatal(err)
	}
	a, _ = e.authToken(scoped)
	if !slices.Equal(a.Permissions.List(), []combine.Permission{combine.PermExecutionRead}) {
		t.Fatalf("after demotion scoped = %v", a.Permissions.List())
	}
	a, _ = e.authToken(full)
	if a.Can(combine.PermWorkflowExecute) || !a.Can(combine.PermWorkflowRead) {
		t.Fatalf("after demotion full = %v", a.Permissions.List())
	}

	// A scoped credential cannot mint a wider token.
	tok, _, err := e.svc.CreateToken(e.ctx, op.ID, combine.TokenCreate{Name: "child"}, a.Permissions.Intersect([]combine.Permission{combine.PermExecutionRead}))
	if err != nil || !slices.Equal(tok.Scopes, []combine.Permission{combine.PermExecutionRead}) {
		t.Fatalf("child of scoped token = %+v %v", tok, err)
	}
	_, _, err = e.svc.CreateToken(e.ctx, op.ID, combine.TokenCreate{Name: "none"}, combine.PermissionSet{})
	mustCode(t, err, combine.EFORBIDDEN)
}

func TestTokenRevocationAndListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.mustUser(t, "o@example.com", "operator")
	other := e.mustUser(t, "p@example.com", "operator")
	admin := e.mustUser(t, "a@example.com", "admin")
	t1, text1, _ := e.svc.CreateToken(e.ctx, owner.ID, combine.TokenCreate{Name: "one"}, nil)
	t2, text2, _ := e.svc.CreateToken(e.ctx, owner.ID, combine.TokenCreate{Name: "two"}, nil)
	as := func(u *combine.User) *combine.AuthContext {
		return &combine.AuthContext{UserID: u.ID, Email: u.Email, Permissions: combine.PermissionsForRoles(u.Roles)}
	}
	// Another user cannot revoke it (and cannot learn it exists).
	mustCode(t, e.svc.RevokeToken(combine.NewContextWithAuth(e.ctx, as(other)), t1.ID), combine.ENOTFOUND)
	if err := e.svc.RevokeToken(combine.NewContextWithAuth(e.ctx, as(owner)), t1.ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.authToken(text1)
	mustCode(t, err, combine.EUNAUTHORIZED)
	if err := e.svc.RevokeToken(combine.NewContextWithAuth(e.ctx, as(admin)), t2.ID); err != nil {
		t.Fatalf("user:manage revoke: %v", err)
	}
	_, err = e.authToken(text2)
	mustCode(t, err, combine.EUNAUTHORIZED)
	mustCode(t, e.svc.RevokeToken(combine.NewContextWithAuth(e.ctx, as(owner)), t1.ID), combine.ENOTFOUND)

	t3, text3, _ := e.svc.CreateToken(e.ctx, owner.ID, combine.TokenCreate{Name: "three"}, nil)
	ts, err := e.svc.ListTokens(e.ctx, owner.ID)
	if err != nil || len(ts) != 1 || ts[0].ID != t3.ID || ts[0].LastUsedAt != nil {
		t.Fatalf("list = %+v %v", ts, err)
	}
	// last_used_at: written on first use, then at most once a minute.
	_, _ = e.authToken(text3)
	first := e.clock.Now()
	e.clock.Advance(59 * time.Second)
	_, _ = e.authToken(text3)
	ts, _ = e.svc.ListTokens(e.ctx, owner.ID)
	if ts[0].LastUsedAt == nil || !ts[0].LastUsedAt.Equal(first) {
		t.Fatalf("last used = %v, want %v", ts[0].LastUsedAt, first)
	}
	e.clock.Advance(time.Second)
	_, _ = e.authToken(text3)
	ts, _ = e.svc.ListTokens(e.ctx, owner.ID)
	if !ts[0].LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("last used = %v, want %v", ts[0].LastUsedAt, e.clock.Now())
	}
	if n := len(e.audit(t, combine.AuditTokenRevoke)); n != 2 {
		t.Fatalf("%d revocations audited", n)
	}
	if n := len(e.audit(t, combine.AuditTokenCreate)); n != 3 {
		t.Fatalf("%d creations audited", n)
	}
}
