package server

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/thecombine/combine/login"
)

// loginTemplates are the sign-in pages. html/template escapes every value,
// and no page ever shows a code, a token or a cookie.
var loginTemplates = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · The Combine</title>
<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#1d2433}
a.button{display:block;margin:.6rem 0;padding:.7rem 1rem;border:1px solid #c5cad3;border-radius:6px;text-decoration:none;color:inherit}
a.button:hover{background:#f2f4f7}code{background:#f2f4f7;padding:.1rem .3rem;border-radius:4px}.muted{color:#5b6475}</style>
</head><body><h1>{{.Title}}</h1>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{range .Providers}}<a class="button" href="{{.Href}}">Sign in with {{.Name}}</a>{{if not .Available}}<p class="muted">{{.Name}} is not reachable right now; the link may fail until it is back.</p>{{end}}{{end}}
{{if .NoProviders}}<p>No identity provider is configured on this server. You can still sign in with a one-time sign-in link:</p>
<ul><li>An administrator runs <code>combine users login-link --email you@example.com</code> and sends you the link it prints (single use, valid for 30 minutes).</li>
<li>On a new installation with no administrator yet, the server logs a one-time <strong>setup link</strong> when it starts; opening it makes you the first administrator.</li></ul>
<p class="muted">To enable Google, Microsoft or another OpenID Connect provider, see docs/login.md.</p>{{end}}
{{if .Back}}<p><a href="/auth/login">Back to sign-in</a></p>{{end}}
</body></html>
`))

type loginProviderLink struct {
	Name      string
	Href      string
	Available bool
}

type loginPageData struct {
	Title       string
	Message     string
	Providers   []loginProviderLink
	NoProviders bool
	Back        bool
}

func renderLoginPage(w http.ResponseWriter, status int, d loginPageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The callback's URL holds the authorization code: never send it on.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = loginTemplates.Execute(w, d)
}

// renderLoginError shows a failed sign-in with its status and a way back.
func renderLoginError(w http.ResponseWriter, status int, msg string) {
	renderLoginPage(w, status, loginPageData{Title: "Sign-in failed", Message: msg, Back: true})
}

// handleLoginPage lists the configured providers, or explains sign-in
// links when there is none.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	d := loginPageData{Title: "Sign in"}
	next := login.SafeNext(r.URL.Query().Get("next"))
	if s.Login.Service != nil {
		for _, p := range s.Login.Service.Providers() {
			href := "/auth/login/" + url.PathEscape(p.Key)
			if next != "/" {
				href += "?next=" + url.QueryEscape(next)
			}
			d.Providers = append(d.Providers, loginProviderLink{Name: p.DisplayName, Href: href, Available: p.Available})
		}
	}
	d.NoProviders = len(d.Providers) == 0
	renderLoginPage(w, http.StatusOK, d)
	return nil
}
