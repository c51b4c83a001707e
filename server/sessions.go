package server

import (
	"net/http"

	"github.com/thecombine/combine"
)

func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) error {
	a := combine.AuthFromContext(r.Context())
	ss, err := s.Identity.Sessions.ListSessions(r.Context(), a.UserID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"sessions": ss})
	return nil
}

func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request) error {
	a := combine.AuthFromContext(r.Context())
	id := r.PathValue("id")
	if err := s.Identity.Sessions.RevokeSession(r.Context(), a.UserID, id); err != nil {
		return err
	}
	if id == a.SessionID {
		s.ClearSessionCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRevokeAllSessions is "log out everywhere", this session included.
func (s *Server) handleRevokeAllSessions(w http.ResponseWriter, r *http.Request) error {
	a := combine.AuthFromContext(r.Context())
	n, err := s.Identity.Sessions.RevokeAllSessions(r.Context(), a.UserID)
	if err != nil {
		return err
	}
	if a.SessionID != "" {
		s.ClearSessionCookie(w)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"revoked": n})
	return nil
}
