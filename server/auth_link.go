package server

import (
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"

	"github.com/thecombine/combine"
)

var linkPage = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>The Combine — sign in</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem}button{margin-top:1rem;padding:.5rem 1.2rem}
.err{color:#a00}</style></head><body>
<h1>The Combine</h1>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
{{if .Valid}}<form method="post">
{{if .Setup}}<p>No administrator exists yet. This one-time setup link makes you the first admin.</p>
<label>Your name <input name="name" required maxlength="200" autocomplete="name" value="{{.Name}}"></label>
<label>Your email <input name="email" type="email" required autocomplete="email" value="{{.Email}}"></label>
<button type="submit">Become admin and sign in</button>
{{else}}<p>Sign in as <strong>{{.Email}}</strong>? This one-time link works once and expires at {{.Expires}}.</p>
<button type="submit">Sign in</button>{{end}}
</form>{{end}}
</body></html>
`))

type linkView struct {
	Valid, Setup         bool
	Email, Name, Expires string
	Error                string
}

func (s *Server) renderLink(w http.ResponseWriter, status int, v linkView) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	return linkPage.Execute(w, v)
}

// linkErrorStatus maps a link error to the page's status. A used, expired
// or unknown link is 410 Gone: the page is public, and its refusal is not
// an authentication challenge.
func linkErrorStatus(err error) int {
	if c := combine.ErrorCode(err); c == combine.EUNAUTHORIZED {
		return http.StatusGone
	} else if c != combine.EINTERNAL {
		return ErrorStatus(c)
	}
	return http.StatusInternalServerError
}

// setRetryAfter copies a rate limit's wait into the Retry-After header.
func setRetryAfter(w http.ResponseWriter, err error) {
	var e *combine.Error
	if errors.As(err, &e) && e.Details[combine.RetryAfterKey] != nil {
		w.Header().Set("Retry-After", fmt.Sprint(e.Details[combine.RetryAfterKey]))
	}
}

// handleLinkPage shows what a sign-in link would do, without using it.
func (s *Server) handleLinkPage(w http.ResponseWriter, r *http.Request) error {
	info, err := s.Identity.Links.InspectLink(r.Context(), r.PathValue("secret"))
	if err != nil {
		if combine.ErrorCode(err) == combine.EINTERNAL {
			return err
		}
		setRetryAfter(w, err)
		return s.renderLink(w, linkErrorStatus(err), linkView{Error: combine.ErrorMessage(err)})
	}
	return s.renderLink(w, http.StatusOK, linkView{Valid: true, Setup: info.Purpose == combine.LinkPurposeSetup,
		Email: info.Email, Expires: info.ExpiresAt.Format("15:04 MST")})
}

// handleLinkSubmit consumes the link, sets the session cookie and sends
// the browser home.
func (s *Server) handleLinkSubmit(w http.ResponseWriter, r *http.Request) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "" && mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
		return combine.Errorf(combine.EINVALID, "submit the sign-in form (application/x-www-form-urlencoded)")
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err // 413, however the body was sent (chunked too)
		}
		return combine.Errorf(combine.EINVALID, "invalid form")
	}
	for _, vs := range r.PostForm {
		for _, v := range vs {
			if !combine.ValidText(v) {
				return combine.Errorf(combine.EINVALID, "form fields must be UTF-8 text without NUL characters")
			}
		}
	}
	secret := r.PathValue("secret")
	req := combine.LoginRequest{ClientAddr: combine.ClientAddrFromContext(r.Context()), UserAgent: r.UserAgent()}
	info, err := s.Identity.Links.InspectLink(r.Context(), secret)
	var sess *combine.Session
	var cookie string
	if err == nil {
		if info.Purpose == combine.LinkPurposeSetup {
			_, sess, cookie, err = s.Identity.Links.CompleteSetup(r.Context(), secret, r.PostForm.Get("name"), r.PostForm.Get("email"), req)
		} else {
			_, sess, cookie, err = s.Identity.Login.LoginWithLink(r.Context(), secret, req)
		}
	}
	if err != nil {
		if combine.ErrorCode(err) == combine.EINTERNAL {
			return err
		}
		v := linkView{Error: combine.ErrorMessage(err)}
		if info != nil && combine.ErrorCode(err) == combine.EINVALID {
			// A correctable form error: show the form again.
			v.Valid, v.Setup, v.Email, v.Name = true, info.Purpose == combine.LinkPurposeSetup, r.PostForm.Get("email"), r.PostForm.Get("name")
			if !v.Setup {
				v.Email = info.Email
			}
		}
		setRetryAfter(w, err)
		return s.renderLink(w, linkErrorStatus(err), v)
	}
	s.SetSessionCookie(w, cookie, sess)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// handleLogout ends the caller's session server-side and clears the
// cookie. A form post is sent home; an API call gets 204.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if a := combine.AuthFromContext(r.Context()); a != nil && a.SessionID != "" {
		if err := s.Identity.Login.Logout(r.Context(), a.SessionID); err != nil {
			return err
		}
	}
	s.ClearSessionCookie(w)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
