package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/thecombine/combine"
)

func (s *Server) executions() (combine.ExecutionService, error) {
	if s.Engine.Executions == nil {
		return nil, errors.New("execution service is not wired")
	}
	return s.Engine.Executions, nil
}

// handleStartExecution serves POST /api/v1/workflows/{id}/executions.
func (s *Server) handleStartExecution(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.executions()
	if err != nil {
		return err
	}
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
	svc, err := s.executions()
	if err != nil {
		return err
	}
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
	svc, err := s.executions()
	if err != nil {
		return err
	}
	e, err := svc.FindExecution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleSubmitDocument serves POST /api/v1/executions/{id}/submissions.
// The body is {"title"?, "content": {…}}; a body without a "content"
// object is taken as the document itself.
func (s *Server) handleSubmitDocument(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.executions()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := DecodeJSON(r, &raw); err != nil {
		return err
	}
	var sub combine.Submission
	var env struct {
		Title   string          `json:"title"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &env) == nil && bytes.HasPrefix(bytes.TrimSpace(env.Content), []byte("{")) {
		sub = combine.Submission{Title: env.Title, Content: env.Content}
	} else {
		sub = combine.Submission{Content: raw}
	}
	e, err := svc.SubmitDocument(r.Context(), r.PathValue("id"), sub)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleAnswerClarification serves POST /api/v1/executions/{id}/clarification.
func (s *Server) handleAnswerClarification(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.executions()
	if err != nil {
		return err
	}
	var body struct {
		Answers map[string]string `json:"answers"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Answers == nil {
		return combine.Errorf(combine.EINVALID, `"answers" is required: {"answers": {"question_id": "text"}}`)
	}
	e, err := svc.AnswerClarification(r.Context(), r.PathValue("id"), body.Answers)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleDecideAcceptance serves POST /api/v1/executions/{id}/acceptance.
func (s *Server) handleDecideAcceptance(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.executions()
	if err != nil {
		return err
	}
	var body struct {
		Accepted *bool  `json:"accepted"`
		Comment  string `json:"comment"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Accepted == nil {
		return combine.Errorf(combine.EINVALID, `"accepted" (true or false) is required`)
	}
	e, err := svc.DecideAcceptance(r.Context(), r.PathValue("id"), combine.Decision{Accepted: *body.Accepted, Comment: body.Comment})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleCancelExecution serves POST /api/v1/executions/{id}/cancel.
func (s *Server) handleCancelExecution(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.executions()
	if err != nil {
		return err
	}
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
	if s.Engine.Steps == nil {
		return errors.New("step service is not wired")
	}
	steps, err := s.Engine.Steps.ListSteps(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"steps": steps})
	return nil
}
