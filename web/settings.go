package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/thecombine/combine"
)

type tokensView struct {
	Tokens []*combine.PersonalAccessToken
	// Created is the token just issued, shown this once.
	Created     *combine.PersonalAccessToken
	CreatedText string
	Scopes      []combine.Permission
	Name        string
	Days        string
	Error       string
}

// handleTokens lists the caller's tokens, masked.
func (ui *UI) handleTokens(w http.ResponseWriter, r *http.Request) error {
	return ui.renderTokens(w, r, http.StatusOK, &tokensView{})
}

func (ui *UI) renderTokens(w http.ResponseWriter, r *http.Request, status int, v *tokensView) error {
	a := caller(r)
	ts, err := ui.srv.Identity.Tokens.ListTokens(r.Context(), a.UserID)
	if err != nil {
		return err
	}
	v.Tokens, v.Scopes = ts, a.Permissions.List()
	return ui.render(w, r, status, "tokens", page{Title: "API tokens", Nav: "tokens", Data: v})
}

// handleCreateToken issues a token and shows it on the response page
// itself — once: it is never stored, so there is nothing to redirect to.
func (ui *UI) handleCreateToken(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	a := caller(r)
	v := &tokensView{Name: strings.TrimSpace(r.PostForm.Get("name")), Days: strings.TrimSpace(r.PostForm.Get("expires_in_days"))}
	in := combine.TokenCreate{Name: v.Name}
	if v.Days != "" {
		n, err := strconv.Atoi(v.Days)
		if err != nil {
			v.Error = "Expiry must be a whole number of days."
			return ui.renderTokens(w, r, http.StatusBadRequest, v)
		}
		in.ExpiresInDays = &n
	}
	for _, s := range r.PostForm["scope"] {
		p, ok := combine.ParsePermission(s)
		if !ok {
			v.Error = "Unknown scope " + strconv.Quote(s) + "."
			return ui.renderTokens(w, r, http.StatusBadRequest, v)
		}
		in.Scopes = append(in.Scopes, p)
	}
	tok, text, err := ui.srv.Identity.Tokens.CreateToken(r.Context(), a.UserID, in, a.Permissions)
	if combine.ErrorCode(err) == combine.EINVALID || combine.ErrorCode(err) == combine.EFORBIDDEN {
		v.Error = combine.ErrorMessage(err)
		return ui.renderTokens(w, r, http.StatusBadRequest, v)
	} else if err != nil {
		return err
	}
	v.Created, v.CreatedText, v.Name, v.Days = tok, text, "", ""
	w.Header().Set("Referrer-Policy", "no-referrer")
	return ui.renderTokens(w, r, http.StatusCreated, v)
}

// handleRevokeToken revokes one of the caller's tokens.
func (ui *UI) handleRevokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := ui.srv.Identity.Tokens.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return ui.redirect(w, r, "/settings/tokens", "token_revoked")
}

// handleSessions lists the caller's sessions.
func (ui *UI) handleSessions(w http.ResponseWriter, r *http.Request) error {
	ss, err := ui.srv.Identity.Sessions.ListSessions(r.Context(), caller(r).UserID)
	if err != nil {
		return err
	}
	return ui.render(w, r, http.StatusOK, "sessions", page{Title: "Sessions", Nav: "sessions", Data: ss})
}

// handleRevokeSession signs one session out; signing out this one ends
// here at the sign-in page.
func (ui *UI) handleRevokeSession(w http.ResponseWriter, r *http.Request) error {
	a := caller(r)
	id := r.PathValue("id")
	if err := ui.srv.Identity.Sessions.RevokeSession(r.Context(), a.UserID, id); err != nil {
		return err
	}
	if id == a.SessionID {
		ui.srv.ClearSessionCookie(w)
		http.Redirect(w, r, "/auth/login", http.StatusSeeOther)
		return nil
	}
	return ui.redirect(w, r, "/settings/sessions", "session_revoked")
}

// handleRevokeAllSessions is "log out everywhere", this browser included.
func (ui *UI) handleRevokeAllSessions(w http.ResponseWriter, r *http.Request) error {
	a := caller(r)
	if _, err := ui.srv.Identity.Sessions.RevokeAllSessions(r.Context(), a.UserID); err != nil {
		return err
	}
	ui.srv.ClearSessionCookie(w)
	http.Redirect(w, r, "/auth/login", http.StatusSeeOther)
	return nil
}
