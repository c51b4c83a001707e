package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/thecombine/combine"
)

//go:embed all:templates
var templateFS embed.FS

// csp is every page's Content-Security-Policy: scripts and styles only
// from our own files (no inline script, no inline style), connections
// only to ourselves (the event stream), forms only to ourselves.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// page is what every template gets: the layout's needs plus the page's
// own data in Data.
type page struct {
	Title string
	// Nav names the active item of the navigation.
	Nav       string
	Me        *combine.AuthContext
	Flash     string
	RequestID string
	// Live marks the execution page, whose script follows the event stream.
	Live bool
	Data any
}

// parseTemplates builds one template set per page: the layout, the shared
// partials and the page's own file.
func parseTemplates() (map[string]*template.Template, error) {
	shared, err := fs.Glob(templateFS, "templates/_*.html")
	if err != nil {
		return nil, err
	}
	pages, err := fs.Glob(templateFS, "templates/[a-z]*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		files := append([]string{p}, shared...)
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, files...)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// render writes a page with status. The body is rendered into a buffer
// first, so a template error becomes an error page, not half a page.
func (ui *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) error {
	t, ok := ui.tmpl[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	p.Me = caller(r)
	p.RequestID = combine.RequestIDFromContext(r.Context())
	if p.Flash == "" {
		p.Flash = ui.takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	pageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// pageHeaders are the headers of every HTML response.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp)
}

// flashCookie carries a one-shot message across a post-redirect-get. Its
// value is a key of flashes, never text from the request.
const flashCookie = "combine_flash"

var flashes = map[string]string{
	"started":          "Execution started.",
	"submitted":        "Document submitted.",
	"answered":         "Answers sent: the step runs again with them.",
	"accepted":         "Document accepted.",
	"accepted_edits":   "Your corrected version was stored and accepted.",
	"rejected":         "Document rejected: the step is redone with your comment.",
	"retried":          "Execution retried: the failed step runs again.",
	"cancelled":        "Execution cancelled.",
	"token_revoked":    "Token revoked: it stopped working at once.",
	"session_revoked":  "Session signed out.",
	"user_created":     "User created.",
	"user_updated":     "User updated.",
	"sessions_revoked": "Signed out everywhere.",
}

// redirect sends the browser to "to" after a successful post, with a
// flash message.
func (ui *UI) redirect(w http.ResponseWriter, r *http.Request, to, flash string) error {
	if _, ok := flashes[flash]; ok {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: flash, Path: "/", MaxAge: 60,
			HttpOnly: true, Secure: ui.secure, SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// takeFlash returns the pending flash message and clears it.
func (ui *UI) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: ui.secure, SameSite: http.SameSiteLaxMode})
	return flashes[c.Value]
}

// logError records an internal error under the request id; the page
// shows only the id.
func (ui *UI) logError(r *http.Request, err error) {
	ui.log.ErrorContext(r.Context(), "internal error",
		slog.String("request_id", combine.RequestIDFromContext(r.Context())),
		slog.String("path", r.URL.Path),
		slog.String("error", err.Error()))
}
