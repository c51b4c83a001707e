package identity_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/thecombine/combine"
)

func TestUserRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name  string
		roles []string
		want  []string
		code  string
	}{
		{"permission role", []string{"viewer"}, []string{"viewer"}, ""},
		{"several with reviewer roles", []string{"Operator", "pm", "architect", "pm"}, []string{"architect", "operator", "pm"}, ""},
		{"unknown role", []string{"viewer", "superuser"}, nil, combine.EINVALID},
		{"no role", []string{" "}, nil, combine.EINVALID},
	}
	for i, tt := range tests {
		u, err := e.svc.CreateUser(e.ctx, combine.UserCreate{Email: string(rune('a'+i)) + "@example.com", Roles: tt.roles})
		if tt.code != "" {
			mustCode(t, err, tt.code)
			continue
		}
		if err != nil || !slices.Equal(u.Roles, tt.want) {
			t.Fatalf("%s: %v %v", tt.name, u, err)
		}
	}
	_, err := e.svc.CreateUser(e.ctx, combine.UserCreate{Email: "A@example.com", Roles: []string{"viewer"}})
	mustCode(t, err, combine.ECONFLICT)
	_, err = e.svc.CreateUser(e.ctx, combine.UserCreate{Email: "not-an-email", Roles: []string{"viewer"}})
	mustCode(t, err, combine.EINVALID)

	// EnsureUser updates roles of the existing user.
	u, created, err := e.svc.EnsureUser(e.ctx, combine.UserCreate{Email: "a@example.com", Roles: []string{"operator", "qa"}})
	if err != nil || created || !slices.Equal(u.Roles, []string{"operator", "qa"}) {
		t.Fatalf("ensure: %+v %v %v", u, created, err)
	}
	bad := []string{"root"}
	_, err = e.svc.UpdateUser(e.ctx, u.ID, combine.UserUpdate{Roles: &bad})
	mustCode(t, err, combine.EINVALID)
	_, err = e.svc.UpdateUser(e.ctx, "usr_missing", combine.UserUpdate{Roles: &bad})
	mustCode(t, err, combine.EINVALID)
	ok := []string{"viewer"}
	_, err = e.svc.UpdateUser(e.ctx, "usr_missing", combine.UserUpdate{Roles: &ok})
	mustCode(t, err, combine.ENOTFOUND)
	if es := e.audit(t, combine.AuditUserRoles); len(es) != 1 || es[0].Target != u.ID {
		t.Fatalf("role change audit = %+v", es)
	}
}

func TestLastAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.mustUser(t, "a@example.com", "admin")
	b := e.mustUser(t, "b@example.com", "admin", "pm")
	viewer, yes, no := []string{"viewer"}, true, false

	if _, err := e.svc.UpdateUser(e.ctx, a.ID, combine.UserUpdate{Roles: &viewer}); err != nil {
		t.Fatalf("demoting one of two admins: %v", err)
	}
	_, err := e.svc.UpdateUser(e.ctx, b.ID, combine.UserUpdate{Roles: &viewer})
	mustCode(t, err, combine.ECONFLICT)
	_, err = e.svc.UpdateUser(e.ctx, b.ID, combine.UserUpdate{Disabled: &yes})
	mustCode(t, err, combine.ECONFLICT)
	// Keeping admin while changing other roles is fine.
	keep := []string{"admin"}
	if _, err := e.svc.UpdateUser(e.ctx, b.ID, combine.UserUpdate{Roles: &keep}); err != nil {
		t.Fatal(err)
	}
	// A disabled admin does not count as active.
	admin := []string{"admin"}
	if _, err := e.svc.UpdateUser(e.ctx, a.ID, combine.UserUpdate{Roles: &admin}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateUser(e.ctx, a.ID, combine.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.UpdateUser(e.ctx, b.ID, combine.UserUpdate{Disabled: &yes})
	mustCode(t, err, combine.ECONFLICT)
	if _, err := e.svc.UpdateUser(e.ctx, a.ID, combine.UserUpdate{Disabled: &no}); err != nil {
		t.Fatal(err)
	}

	// Two admins demoting each other at once: one must lose, every round.
	for round := range 8 {
		for _, id := range []string{a.ID, b.ID} {
			if _, err := e.svc.UpdateUser(e.ctx, id, combine.UserUpdate{Roles: &admin}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for i, id := range []string{a.ID, b.ID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = e.svc.UpdateUser(e.ctx, id, combine.UserUpdate{Roles: &viewer})
			}()
		}
		close(start)
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: concurrent demotions: %v / %v", round, errs[0], errs[1])
		}
	}
}

func TestDisableEndsSessionsAndTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustUser(t, "root@example.com", "admin")
	u, _, secret, err := e.svc.LoginExternal(e.ctx, ident("x", "x@example.com"), combine.LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := e.svc.CreateToken(e.ctx, u.ID, combine.TokenCreate{Name: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	if _, err := e.svc.UpdateUser(e.ctx, u.ID, combine.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	_, err = e.authSession(secret)
	mustCode(t, err, combine.EUNAUTHORIZED)
	_, err = e.authToken(tok)
	mustCode(t, err, combine.EUNAUTHORIZED)
	// Re-enabling does not bring the old credentials back.
	if _, err := e.svc.UpdateUser(e.ctx, u.ID, combine.UserUpdate{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	_, err = e.authSession(secret)
	mustCode(t, err, combine.EUNAUTHORIZED)
	_, err = e.authToken(tok)
	mustCode(t, err, combine.EUNAUTHORIZED)
	if len(e.audit(t, combine.AuditUserDisable)) != 1 || len(e.audit(t, combine.AuditUserEnable)) != 1 {
		t.Fatal("disable/enable not audited")
	}
}
