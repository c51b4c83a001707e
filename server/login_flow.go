package server

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/login"
)

// loginProvider returns the login service when provider is configured;
// otherwise it renders the 404 page and returns nil.
func (s *Server) loginProvider(w http.ResponseWriter, r *http.Request) *login.Service {
	key := r.PathValue("provider")
	if s.Login.Service == nil || !s.Login.Service.Enabled(key) {
		renderLoginError(w, http.StatusNotFound, fmt.Sprintf("No sign-in provider %q is configured on this server.", key))
		return nil
	}
	return s.Login.Service
}

// handleLoginStart redirects to the provider with a fresh flow cookie.
func (s *Server) handleLoginStart(w http.ResponseWriter, r *http.Request) error {
	svc := s.loginProvider(w, r)
	if svc == nil {
		return nil
	}
	to, cookie, err := svc.Begin(r.Context(), r.PathValue("provider"), r.URL.Query().Get("next"))
	if err != nil {
		s.renderLoginFailure(w, r, err)
		return nil
	}
	http.SetCookie(w, cookie)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

// handleLoginCallback completes the sign-in. The flow cookie is cleared
// first, whatever happens next, so the same callback cannot be replayed.
func (s *Server) handleLoginCallback(w http.ResponseWriter, r *http.Request) error {
	svc := s.loginProvider(w, r)
	if svc == nil {
		return nil
	}
	key := r.PathValue("provider")
	http.SetCookie(w, svc.ClearStateCookie(key))
	var flow string
	if c, err := r.Cookie(svc.StateCookieName(key)); err == nil {
		flow = c.Value
	}
	res, err := svc.Complete(r.Context(), key, r.URL.Query(), flow, combine.LoginRequest{
		ClientAddr: combine.ClientAddrFromContext(r.Context()),
		UserAgent:  r.UserAgent(),
	})
	if err != nil {
		s.renderLoginFailure(w, r, err)
		return nil
	}
	s.SetSessionCookie(w, res.Secret, res.Session)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, res.Next, http.StatusSeeOther)
	return nil
}

// renderLoginFailure shows err as an HTML page; internal causes are
// logged under the request id and never shown.
func (s *Server) renderLoginFailure(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := combine.ErrorCode(err), combine.ErrorMessage(err)
	status := ErrorStatus(code)
	if code == combine.EINTERNAL {
		msg = "Something went wrong on our side. Please try again."
		s.logger.ErrorContext(r.Context(), "sign-in failed",
			slog.String("request_id", combine.RequestIDFromContext(r.Context())),
			slog.String("provider", r.PathValue("provider")),
			slog.String("error", err.Error()))
	}
	renderLoginError(w, status, msg)
}
