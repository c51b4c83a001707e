package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/thecombine/combine"
)

// workflowView is a definition as the API shows it: the workflow.v1 fields
// plus, per production step, the prompt versions it sends and, per
// document type, its JSON schema (detail only).
type workflowView struct {
	*combine.Workflow
	DocumentTypes map[string]docTypeView `json:"document_types"`
	Steps         []stepView             `json:"steps"`
	// Prompts lists every prompt file the workflow uses, once each.
	Prompts []combine.PromptRef `json:"prompts"`
}

type docTypeView struct {
	combine.DocumentTypeDef
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

type stepView struct {
	combine.StepDef
	Steps   []stepView       `json:"steps,omitempty"`
	Prompts *stepPromptsView `json:"prompts,omitempty"`
}

type stepPromptsView struct {
	Role combine.PromptRef `json:"role"`
	Task combine.PromptRef `json:"task"`
}

// handleListWorkflows serves GET /api/v1/workflows.
func (s *Server) handleListWorkflows(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Workflows
	wfs, err := svc.ListWorkflows(r.Context())
	if err != nil {
		return err
	}
	views := make([]*workflowView, 0, len(wfs))
	for _, wf := range wfs {
		v, err := newWorkflowView(r.Context(), svc, wf, false)
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"workflows": views})
	return nil
}

// handleGetWorkflow serves GET /api/v1/workflows/{id}, with the JSON
// schema of every document type.
func (s *Server) handleGetWorkflow(w http.ResponseWriter, r *http.Request) error {
	svc := s.Engine.Workflows
	wf, err := svc.FindWorkflow(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := newWorkflowView(r.Context(), svc, wf, true)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, v)
	return nil
}

func newWorkflowView(ctx context.Context, svc combine.WorkflowService, wf *combine.Workflow, withSchemas bool) (*workflowView, error) {
	v := &workflowView{Workflow: wf, DocumentTypes: map[string]docTypeView{}, Prompts: []combine.PromptRef{}}
	for id, dt := range wf.DocumentTypes {
		dv := docTypeView{DocumentTypeDef: dt}
		if withSchemas {
			sch, err := svc.DocumentSchema(ctx, wf.ID, id)
			if err != nil {
				return nil, err
			}
			dv.JSONSchema = sch
		}
		v.DocumentTypes[id] = dv
	}
	seen := map[combine.PromptRef]bool{}
	var build func(steps []combine.StepDef) ([]stepView, error)
	build = func(steps []combine.StepDef) ([]stepView, error) {
		out := make([]stepView, 0, len(steps))
		for _, st := range steps {
			sv := stepView{StepDef: st}
			if st.IsIteration() {
				nested, err := build(st.Steps)
				if err != nil {
					return nil, err
				}
				sv.Steps = nested
			} else {
				sp, err := svc.StepPrompts(ctx, wf.ID, st.ID)
				if err != nil {
					return nil, err
				}
				sv.Prompts = &stepPromptsView{Role: sp.Role.PromptRef, Task: sp.Task.PromptRef}
				for _, ref := range []combine.PromptRef{sp.Role.PromptRef, sp.Task.PromptRef} {
					if !seen[ref] {
						seen[ref] = true
						v.Prompts = append(v.Prompts, ref)
					}
				}
			}
			out = append(out, sv)
		}
		return out, nil
	}
	steps, err := build(wf.Steps)
	if err != nil {
		return nil, err
	}
	v.Steps = steps
	return v, nil
}
