package identity_test

import (
	"slices"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
)

func TestLoginExternalNewUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, sess, secret, err := e.svc.LoginExternal(e.ctx, ident("sub-1", "Alice@Example.com"), combine.LoginRequest{ClientAddr: "198.51.100.7", UserAgent: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "alice@example.com" || !slices.Equal(u.Roles, []string{"viewer"}) || u.Provider != "oidc" || u.ProviderID != "sub-1" {
		t.Fatalf("user = %+v", u)
	}
	if u.LastLoginAt.IsZero() || sess.UserID != u.ID || len(secret) != 43 {
		t.Fatalf("session %+v secret len %d", sess, len(secret))
	}
	a, err := e.authSession(secret)
	if err != nil || a.UserID != u.ID || a.SessionID != sess.ID || !a.Can(combine.PermWorkflowRead) || a.Can(combine.PermWorkflowExecute) {
		t.Fatalf("auth = %+v, %v", a, err)
	}
	ok := e.audit(t, combine.AuditLoginSuccess)
	if len(ok) != 1 || ok[0].ActorID != u.ID || ok[0].ClientAddr != "198.51.100.7" || ok[0].Target != sess.ID {
		t.Fatalf("audit = %+v", ok)
	}
	if len(e.audit(t, combine.AuditUserCreate)) != 1 {
		t.Fatal("user creation not audited")
	}
}

func TestLoginExternalRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *identity.Options) { o.AllowedEmailDomains = []string{"example.com"} })
	disabled, _, _, err := e.svc.LoginExternal(e.ctx, ident("sub-d", "dis@example.com"), combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.mustUser(t, "admin@example.com", "admin")
	yes := true
	if _, err := e.svc.UpdateUser(e.ctx, disabled.ID, combine.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	unverified := ident("sub-u", "u@example.com")
	unverified.EmailVerified = false
	noEmail := ident("sub-n", "")
	noSubject := ident("", "x@example.com")
	tests := []struct {
		name   string
		id     combine.ExternalIdentity
		reason string
	}{
		{"unverified email", unverified, identity.ReasonEmailNotVerified},
		{"missing email", noEmail, identity.ReasonEmailMissing},
		{"missing subject", noSubject, identity.ReasonBadIdentity},
		{"domain not allowed", ident("sub-o", "eve@other.org"), identity.ReasonDomainNotAllowed},
		{"look-alike domain", ident("sub-l", "eve@evil-example.com"), identity.ReasonDomainNotAllowed},
		{"disabled user", ident("sub-d", "dis@example.com"), identity.ReasonUserDisabled},
	}
	for _, tt := range tests {
		_, _, _, err := e.svc.LoginExternal(e.ctx, tt.id, combine.LoginRequest{ClientAddr: "203.0.113.9"})
		mustCode(t, err, combine.EFORBIDDEN)
		fails := e.audit(t, combine.AuditLoginFailure)
		if len(fails) == 0 || fails[0].Reason != tt.reason || fails[0].Outcome != combine.OutcomeFailure || fails[0].ClientAddr != "203.0.113.9" {
			t.Fatalf("%s: newest failure audit = %+v", tt.name, fails)
		}
	}
	users, _ := e.svc.FindUsers(e.ctx, combine.UserFilter{})
	if len(users) != 2 {
		t.Fatalf("refused logins created users: %d users", len(users))
	}
}

func TestLoginExternalIdentityNotEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u1, s1, _, err := e.svc.LoginExternal(e.ctx, ident("sub-1", "same@example.com"), combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Same email from another subject is another person.
	u2, _, _, err := e.svc.LoginExternal(e.ctx, ident("sub-2", "same@example.com"), combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if u1.ID == u2.ID {
		t.Fatal("users matched on email alone")
	}
	other := ident("sub-1", "same@example.com")
	other.Issuer = "https://other-idp.example.com"
	u3, _, _, err := e.svc.LoginExternal(e.ctx, other, combine.LoginRequest{})
	if err != nil || u3.ID == u1.ID {
		t.Fatalf("same subject at another issuer matched: %v", err)
	}
	// A returning user: same id, fresh session, updated profile.
	e.clock.Advance(time.Hour)
	again := ident("sub-1", "new@example.com")
	again.Name = "Renamed"
	u4, s4, _, err := e.svc.LoginExternal(e.ctx, again, combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if u4.ID != u1.ID || u4.Email != "new@example.com" || u4.Name != "Renamed" || !u4.LastLoginAt.After(u1.LastLoginAt) {
		t.Fatalf("returning user = %+v", u4)
	}
	if s4.ID == s1.ID {
		t.Fatal("login reused a session")
	}
	stored, _ := e.svc.FindUserByID(e.ctx, u1.ID)
	if stored.Email != "new@example.com" || stored.Name != "Renamed" || !stored.LastLoginAt.Equal(u4.LastLoginAt) {
		t.Fatalf("stored = %+v", stored)
	}
}

func TestLoginExternalAdminEmails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, _, _, err := e.svc.LoginExternal(e.ctx, ident("b", "Boss@Example.com"), combine.LoginRequest{})
	if err != nil || !slices.Contains(u.Roles, "admin") {
		t.Fatalf("admin email: %+v %v", u, err)
	}
	unverified := ident("b2", "boss@example.com")
	unverified.EmailVerified = false
	_, _, _, err = e.svc.LoginExternal(e.ctx, unverified, combine.LoginRequest{})
	mustCode(t, err, combine.EFORBIDDEN)
}

func TestLoginExternalNeverMatchesProvisionedUserByEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prov := e.mustUser(t, "carol@example.com", "operator", "pm")
	u, _, _, err := e.svc.LoginExternal(e.ctx, ident("c", "carol@example.com"), combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == prov.ID || !slices.Equal(u.Roles, []string{"viewer"}) {
		t.Fatalf("external login took over the provisioned user: %+v", u)
	}
	stored, _ := e.svc.FindUserByID(e.ctx, prov.ID)
	if stored.Provider != combine.ProviderLocal || !slices.Equal(stored.Roles, []string{"operator", "pm"}) {
		t.Fatalf("provisioned user changed: %+v", stored)
	}
	// With two users on one email, setting roles by email is refused, and
	// the break-glass link goes to the local account.
	_, _, err = e.svc.EnsureUser(e.ctx, combine.UserCreate{Email: "carol@example.com", Roles: []string{"qa"}})
	mustCode(t, err, combine.ECONFLICT)
	link, _, err := e.svc.CreateLoginLink(e.ctx, "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	got, _, _, err := e.svc.LoginWithLink(e.ctx, link, combine.LoginRequest{})
	if err != nil || got.ID != prov.ID {
		t.Fatalf("link signed in %+v, %v", got, err)
	}
	// Only one user on the email: EnsureUser updates it, whatever its provider.
	e.svc.LoginExternal(e.ctx, ident("d", "dan@example.com"), combine.LoginRequest{})
	d, created, err := e.svc.EnsureUser(e.ctx, combine.UserCreate{Email: "dan@example.com", Roles: []string{"operator"}})
	if err != nil || created || d.Provider != "oidc" || !slices.Equal(d.Roles, []string{"operator"}) {
		t.Fatalf("ensure on external user: %+v %v %v", d, created, err)
	}
}

func TestLoginWithLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.mustUser(t, "dave@example.com", "operator")
	e.mustUser(t, "root@example.com", "admin")
	secret, exp, err := e.svc.CreateLoginLink(e.ctx, "Dave@example.com")
	if err != nil || !exp.Equal(e.clock.Now().Add(30*time.Minute)) {
		t.Fatalf("create link: %v %v", exp, err)
	}
	// Inspecting (a GET) does not consume it.
	for range 2 {
		info, err := e.svc.InspectLink(e.ctx, secret)
		if err != nil || info.Purpose != combine.LinkPurposeLogin || info.Email != "dave@example.com" {
			t.Fatalf("inspect: %+v %v", info, err)
		}
	}
	got, sess, cookie, err := e.svc.LoginWithLink(e.ctx, secret, combine.LoginRequest{ClientAddr: "192.0.2.5"})
	if err != nil || got.ID != u.ID || sess.UserID != u.ID || cookie == "" {
		t.Fatalf("login: %+v %v", got, err)
	}
	_, _, _, err = e.svc.LoginWithLink(e.ctx, secret, combine.LoginRequest{})
	mustCode(t, err, combine.EUNAUTHORIZED)
	_, err = e.svc.InspectLink(e.ctx, secret)
	mustCode(t, err, combine.EUNAUTHORIZED)
	if uses := e.audit(t, combine.AuditLinkUse); len(uses) != 1 || uses[0].Reason != "break-glass" {
		t.Fatalf("link use audit = %+v", uses)
	}
	if len(e.audit(t, combine.AuditLinkCreate)) != 1 {
		t.Fatal("link creation not audited")
	}

	// Expiry.
	late, _, _ := e.svc.CreateLoginLink(e.ctx, "dave@example.com")
	e.clock.Advance(30 * time.Minute)
	_, _, _, err = e.svc.LoginWithLink(e.ctx, late, combine.LoginRequest{})
	mustCode(t, err, combine.EUNAUTHORIZED)

	// Unknown users and garbage.
	_, _, err = e.svc.CreateLoginLink(e.ctx, "nobody@example.com")
	mustCode(t, err, combine.ENOTFOUND)
	_, _, _, err = e.svc.LoginWithLink(e.ctx, "not-a-link", combine.LoginRequest{})
	mustCode(t, err, combine.EUNAUTHORIZED)

	// A link of a user disabled after it was made does not sign in.
	pending, _, _ := e.svc.CreateLoginLink(e.ctx, "dave@example.com")
	yes := true
	if _, err := e.svc.UpdateUser(e.ctx, u.ID, combine.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = e.svc.LoginWithLink(e.ctx, pending, combine.LoginRequest{})
	mustCode(t, err, combine.EFORBIDDEN)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, sess, secret, err := e.svc.LoginExternal(e.ctx, ident("l", "l@example.com"), combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(e.ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.authSession(secret)
	mustCode(t, err, combine.EUNAUTHORIZED)
	if err := e.svc.Logout(e.ctx, sess.ID); err != nil {
		t.Fatalf("second logout: %v", err)
	}
	if lo := e.audit(t, combine.AuditLogout); len(lo) != 1 || lo[0].Target != sess.ID {
		t.Fatalf("logout audit = %+v", lo)
	}
}
