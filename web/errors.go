package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/login"
	"github.com/thecombine/combine/server"
)

// errorView is the error page's data.
type errorView struct {
	Status     int
	Heading    string
	Message    string
	Permission string
	SignIn     string
	Back       string
}

var errorHeadings = map[int]string{
	http.StatusBadRequest:            "That request could not be used",
	http.StatusUnauthorized:          "Please sign in",
	http.StatusForbidden:             "You may not do this",
	http.StatusNotFound:              "Not found",
	http.StatusMethodNotAllowed:      "Not allowed here",
	http.StatusConflict:              "This changed in the meantime",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusTooManyRequests:       "Too many attempts",
	http.StatusInternalServerError:   "Something went wrong",
}

// RenderError implements server.PageRenderer: a browser that is not
// signed in (or whose session ended) is sent to sign in and brought back
// to the page it asked for; every other error is a readable page with
// the status, a client-safe message and the request id — never a stack
// trace or JSON. Internal causes are logged under the request id.
func (ui *UI) RenderError(w http.ResponseWriter, r *http.Request, err error) {
	code := combine.ErrorCode(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		code, err = combine.ETOOLARGE, combine.Errorf(combine.ETOOLARGE, "the form is larger than the server accepts (%d bytes)", mbe.Limit)
	}
	status := server.ErrorStatus(code)
	signIn := "/auth/login?next=" + url.QueryEscape(login.SafeNext(r.URL.RequestURI()))
	if code == combine.EUNAUTHORIZED && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, signIn, http.StatusSeeOther)
		return
	}
	v := errorView{Status: status, Heading: errorHeadings[status], Message: combine.ErrorMessage(err)}
	if v.Heading == "" {
		v.Heading = http.StatusText(status)
	}
	var e *combine.Error
	if errors.As(err, &e) {
		v.Permission = e.Permission
		if ra, ok := e.Details[combine.RetryAfterKey]; ok {
			w.Header().Set("Retry-After", fmt.Sprint(ra))
		}
	}
	switch code {
	case combine.EINTERNAL:
		ui.logError(r, err)
		v.Message = "The server could not complete this request. It has been logged; quote the request id below if you report it."
	case combine.EUNAUTHORIZED:
		v.Message = "Your session has ended or is not valid any more. Sign in again, then repeat what you were doing."
		v.SignIn = "/auth/login"
	case combine.EFORBIDDEN:
		if v.Permission != "" {
			v.Message = "Your roles do not include this. It needs the permission below; ask an administrator if you should have it."
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		v.Back = backTo(r)
	}
	p := page{Title: v.Heading, Data: v}
	if rerr := ui.render(w, r, status, "error", p); rerr != nil {
		ui.logError(r, rerr)
		pageHeaders(w)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><p>Something went wrong. Request id: " +
			template.HTMLEscapeString(combine.RequestIDFromContext(r.Context())) + "</p>"))
	}
}

// backTo is where a refused form post leads back to: the page it was
// posted from, when that is one of ours.
func backTo(r *http.Request) string {
	ref, err := url.Parse(r.Referer())
	if err != nil || ref.Host != r.Host {
		return ""
	}
	if next := login.SafeNext(ref.RequestURI()); next == ref.RequestURI() {
		return next
	}
	return ""
}
