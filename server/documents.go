package server

import (
	"net/http"
	"strconv"

	"github.com/thecombine/combine"
)

// handleListDocuments serves GET /api/v1/documents (filters execution_id,
// project_id, document_type, scope_id, latest; limit/offset).
func (s *Server) handleListDocuments(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Documents
	limit, err := QueryInt(r, "limit", 50, 1, 500)
	if err != nil {
		return err
	}
	offset, err := QueryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	latest := false
	if v := q.Get("latest"); v != "" {
		if latest, err = strconv.ParseBool(v); err != nil {
			return combine.Errorf(combine.EINVALID, "query parameter \"latest\" must be true or false")
		}
	}
	docs, total, err := svc.ListDocuments(r.Context(), combine.DocumentFilter{
		ExecutionID: q.Get("execution_id"), ProjectID: q.Get("project_id"), DocumentType: q.Get("document_type"),
		ScopeID: q.Get("scope_id"), Latest: latest, Limit: limit, Offset: offset,
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"documents": docs, "total": total, "limit": limit, "offset": offset})
	return nil
}

// handleGetDocument serves GET /api/v1/documents/{id}.
func (s *Server) handleGetDocument(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Documents
	d, err := svc.FindDocument(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, d)
	return nil
}

// handleDocumentVersions serves GET /api/v1/documents/{id}/versions.
func (s *Server) handleDocumentVersions(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Documents
	docs, err := svc.DocumentVersions(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"versions": docs})
	return nil
}
