package server

import (
	"net/http"

	"github.com/thecombine/combine"
)

// SetSessionCookie sends the session cookie after a sign-in: HttpOnly,
// SameSite=Lax, Path=/, and Secure with the __Host- prefix when secure
// cookies are configured. It expires with the session's absolute lifetime.
func (s *Server) SetSessionCookie(w http.ResponseWriter, secret string, sess *combine.Session) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookieName(s.cfg.SessionSecureCookies),
		Value:    secret,
		Path:     "/",
		Expires:  sess.ExpiresAt,
		HttpOnly: true,
		Secure:   s.cfg.SessionSecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie deletes the session cookie in the browser.
func (s *Server) ClearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookieName(s.cfg.SessionSecureCookies),
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.cfg.SessionSecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}
