package server_test

import (
	"strings"
	"testing"
)

func TestHomePage(t *testing.T) {
	t.Parallel()
	x := newIDHarness(t, nil)
	for _, c := range []struct {
		name string
		cred idCred
	}{{"anonymous", idCred{}}, {"bad cookie", idCred{cookie: "not-a-session"}}} {
		w := x.do("GET", "/", c.cred, "")
		if w.Code != 303 || w.Header().Get("Location") != "/auth/login" {
			t.Fatalf("%s: %d to %q, want 303 to /auth/login", c.name, w.Code, w.Header().Get("Location"))
		}
	}
	w := x.do("GET", "/", idCred{cookie: x.session(t, "viewer")}, "")
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "viewer@example.com") || !strings.Contains(body, `action="/auth/logout"`) {
		t.Fatalf("signed in: %d\n%s", w.Code, body)
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("content type %q", w.Header().Get("Content-Type"))
	}
	if w := x.do("GET", "/nope", idCred{}, ""); w.Code != 404 {
		t.Fatalf("/nope: %d, want 404 (the home route matches / only)", w.Code)
	}
}
