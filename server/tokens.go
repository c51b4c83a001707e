package server

import (
	"net/http"

	"github.com/thecombine/combine"
)

type tokenCreateRequest struct {
	Name          string   `json:"name"`
	ExpiresInDays *int     `json:"expires_in_days"`
	Scopes        []string `json:"scopes"`
}

type tokenCreated struct {
	*combine.PersonalAccessToken
	Token string `json:"token"`
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) error {
	a := combine.AuthFromContext(r.Context())
	ts, err := s.Identity.Tokens.ListTokens(r.Context(), a.UserID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

// handleCreateToken issues a token for the caller, limited to what the
// calling credential itself may do.
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) error {
	var req tokenCreateRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	in := combine.TokenCreate{Name: req.Name, ExpiresInDays: req.ExpiresInDays}
	for _, sc := range req.Scopes {
		p, ok := combine.ParsePermission(sc)
		if !ok {
			return combine.Errorf(combine.EINVALID, "unknown scope %q", sc)
		}
		in.Scopes = append(in.Scopes, p)
	}
	a := combine.AuthFromContext(r.Context())
	in.ParentScopes = a.Scopes
	tok, text, err := s.Identity.Tokens.CreateToken(r.Context(), a.UserID, in, a.Permissions)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, tokenCreated{PersonalAccessToken: tok, Token: text})
	return nil
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.Identity.Tokens.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
