package server

import (
	"net/http"

	"github.com/thecombine/combine"
)

type userCreateRequest struct {
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

type userUpdateRequest struct {
	Roles    *[]string `json:"roles"`
	Disabled *bool     `json:"disabled"`
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	limit, err := QueryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	offset, err := QueryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	us, err := s.Identity.Users.FindUsers(r.Context(), combine.UserFilter{Email: r.URL.Query().Get("email"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"users": us})
	return nil
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	var req userCreateRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.Identity.Users.CreateUser(r.Context(), combine.UserCreate{Email: req.Email, Name: req.Name, Roles: req.Roles})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Identity.Users.FindUserByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) error {
	var req userUpdateRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.Identity.Users.UpdateUser(r.Context(), r.PathValue("id"), combine.UserUpdate{Roles: req.Roles, Disabled: req.Disabled})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, u)
	return nil
}
