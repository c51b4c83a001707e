package server

import (
	"encoding/json"
	"net/http"

	"github.com/thecombine/combine"
)

// handleStartExecution serves POST /api/v1/workflows/{id}/executions.
func (s *Server) handleStartExecution(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Executions
	var body struct {
		ProjectID string          `json:"project_id"`
		Inputs    json.RawMessage `json:"inputs"`
	}
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &body); err != nil {
			return err
		}
	}
	e, err := svc.StartExecution(r.Context(), combine.StartExecution{
		WorkflowID: r.PathValue("id"), ProjectID: body.ProjectID, Inputs: body.Inputs,
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, e)
	return nil
}

// handleListExecutions serves GET /api/v1/executions: newest first, with
// limit/offset pagination.
func (s *Server) handleListExecutions(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Executions
	limit, err := QueryInt(r, "limit", 50, 1, 500)
	if err != nil {
		return err
	}
	offset, err := QueryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, total, err := svc.ListExecutions(r.Context(), combine.ExecutionFilter{
		WorkflowID: q.Get("workflow_id"), Status: combine.ExecutionStatus(q.Get("status")),
		ProjectID: q.Get("project_id"), Limit: limit, Offset: offset,
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"executions": list, "total": total, "limit": limit, "offset": offset})
	return nil
}

// handleGetExecution serves GET /api/v1/executions/{id}.
func (s *Server) handleGetExecution(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Executions
	e, err := svc.FindExecution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleSubmitDocument serves POST /api/v1/executions/{id}/submissions:
// {"step_path", "attempt", "title"?, "content": {…}}.
func (s *Server) handleSubmitDocument(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Executions
	var body struct {
		StepPath *string         `json:"step_path"`
		Attempt  *int            `json:"attempt"`
		Title    string          `json:"title"`
		Content  json.RawMessage `json:"content"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.StepPath == nil || body.Attempt == nil || body.Content == nil {
		return combine.Errorf(combine.EINVALID, `the body must be {"step_path", "attempt", "title"?, "content": {…}}: the work item and its document`)
	}
	e, err := svc.SubmitDocument(r.Context(), r.PathValue("id"), combine.Submission{
		StepPath: *body.StepPath, Attempt: *body.Attempt, Title: body.Title, Content: body.Content,
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleAnswerClarification serves POST /api/v1/executions/{id}/clarification:
// {"step_path", "attempt", "answers": {"question_id": "text"}}.
func (s *Server) handleAnswerClarification(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Executions
	var body struct {
		StepPath *string           `json:"step_path"`
		Attempt  *int              `json:"attempt"`
		Answers  map[string]string `json:"answers"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.StepPath == nil || body.Attempt == nil || body.Answers == nil {
		return combine.Errorf(combine.EINVALID, `the body must be {"step_path", "attempt", "answers": {"question_id": "text"}}`)
	}
	e, err := svc.AnswerClarification(r.Context(), r.PathValue("id"), combine.Answers{
		StepPath: *body.StepPath, Attempt: *body.Attempt, Answers: body.Answers,
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleDecideAcceptance serves POST /api/v1/executions/{id}/acceptance:
// {"step_path", "attempt"?, "document_id", "version", "accepted", "comment"?,
// "title"?, "content"?}.
func (s *Server) handleDecideAcceptance(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Executions
	var body struct {
		StepPath   *string         `json:"step_path"`
		Attempt    int             `json:"attempt"`
		DocumentID *string         `json:"document_id"`
		Version    *int            `json:"version"`
		Accepted   *bool           `json:"accepted"`
		Comment    string          `json:"comment"`
		Title      string          `json:"title"`
		Content    json.RawMessage `json:"content"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.StepPath == nil || body.DocumentID == nil || body.Version == nil || body.Accepted == nil {
		return combine.Errorf(combine.EINVALID, `the body must be {"step_path", "document_id", "version", "accepted": true|false, "comment"?, "content"?}`)
	}
	if string(body.Content) == "null" {
		body.Content = nil
	}
	e, err := svc.DecideAcceptance(r.Context(), r.PathValue("id"), combine.Decision{
		StepPath: *body.StepPath, Attempt: body.Attempt, DocumentID: *body.DocumentID, Version: *body.Version,
		Accepted: *body.Accepted, Comment: body.Comment, Title: body.Title, Content: body.Content,
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleRetryExecution serves POST /api/v1/executions/{id}/retry:
// {"comment"?} (an empty body is fine).
func (s *Server) handleRetryExecution(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Executions
	var body struct {
		Comment string `json:"comment"`
	}
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &body); err != nil {
			return err
		}
	}
	e, err := svc.RetryExecution(r.Context(), r.PathValue("id"), body.Comment)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleCancelExecution serves POST /api/v1/executions/{id}/cancel.
func (s *Server) handleCancelExecution(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Executions
	e, err := svc.CancelExecution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleListSteps serves GET /api/v1/executions/{id}/steps: every step
// instance with its attempts (worker, status, QA problems, feedback).
func (s *Server) handleListSteps(w http.ResponseWriter, r *http.Request) error {
	steps, err := s.Engine.Steps.ListSteps(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"steps": steps})
	return nil
}
