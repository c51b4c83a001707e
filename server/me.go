package server

import (
	"net/http"

	"github.com/thecombine/combine"
)

type meUser struct {
	ID       string   `json:"user_id"`
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
	Roles    []string `json:"roles"`
}

type meAuth struct {
	Method    string `json:"method"`
	SessionID string `json:"session_id,omitempty"`
	TokenID   string `json:"token_id,omitempty"`
}

type meResponse struct {
	User        meUser               `json:"user"`
	Permissions []combine.Permission `json:"permissions"`
	Auth        meAuth               `json:"auth"`
}

// handleMe describes the caller from the request's AuthContext (already
// freshly read from the database by the authenticator).
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	a := combine.AuthFromContext(r.Context())
	roles := a.Roles
	if roles == nil {
		roles = []string{}
	}
	WriteJSON(w, http.StatusOK, meResponse{
		User:        meUser{ID: a.UserID, Email: a.Email, Name: a.Name, Provider: a.Provider, Roles: roles},
		Permissions: a.Permissions.List(),
		Auth:        meAuth{Method: a.Method, SessionID: a.SessionID, TokenID: a.TokenID},
	})
	return nil
}
