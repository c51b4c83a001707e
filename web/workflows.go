package web

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/thecombine/combine"
)

type docTypeRow struct {
	ID string
	combine.DocumentTypeDef
}

type workflowView struct {
	WF        *combine.Workflow
	DocTypes  []docTypeRow
	Scopes    []scopeRow
	CanStart  bool
	ProjectID string
	Inputs    string
	Error     string
}

type scopeRow struct {
	Name, Parent string
}

// handleWorkflows lists the loaded workflows.
func (ui *UI) handleWorkflows(w http.ResponseWriter, r *http.Request) error {
	wfs, err := ui.srv.Engine.Workflows.ListWorkflows(r.Context())
	if err != nil {
		return err
	}
	return ui.render(w, r, http.StatusOK, "workflows", page{Title: "Workflows", Nav: "workflows", Data: wfs})
}

// handleWorkflow shows a workflow's steps, scopes and document types —
// who accepts what — and the form to start it.
func (ui *UI) handleWorkflow(w http.ResponseWriter, r *http.Request) error {
	wf, err := ui.srv.Engine.Workflows.FindWorkflow(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return ui.renderWorkflow(w, r, http.StatusOK, newWorkflowView(r, wf))
}

func newWorkflowView(r *http.Request, wf *combine.Workflow) *workflowView {
	v := &workflowView{WF: wf, CanStart: caller(r).Can(combine.PermWorkflowExecute)}
	for id, dt := range wf.DocumentTypes {
		v.DocTypes = append(v.DocTypes, docTypeRow{ID: id, DocumentTypeDef: dt})
	}
	sort.Slice(v.DocTypes, func(i, j int) bool { return v.DocTypes[i].ID < v.DocTypes[j].ID })
	for name, sc := range wf.Scopes {
		row := scopeRow{Name: name}
		if sc.Parent != nil {
			row.Parent = *sc.Parent
		}
		v.Scopes = append(v.Scopes, row)
	}
	sort.Slice(v.Scopes, func(i, j int) bool { return v.Scopes[i].Name < v.Scopes[j].Name })
	return v
}

func (ui *UI) renderWorkflow(w http.ResponseWriter, r *http.Request, status int, v *workflowView) error {
	return ui.render(w, r, status, "workflow", page{Title: v.WF.Name, Nav: "workflows", Data: v})
}

// handleStart starts an execution from the workflow page's form and
// opens it; a refused start shows the form again with the reason.
func (ui *UI) handleStart(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	wf, err := ui.srv.Engine.Workflows.FindWorkflow(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	project := strings.TrimSpace(r.PostForm.Get("project_id"))
	inputs := strings.TrimSpace(r.PostForm.Get("inputs"))
	req := combine.StartExecution{WorkflowID: wf.ID, ProjectID: project}
	if inputs != "" {
		req.Inputs = []byte(inputs)
	}
	e, err := ui.srv.Engine.Executions.StartExecution(r.Context(), req)
	if combine.ErrorCode(err) == combine.EINVALID {
		v := newWorkflowView(r, wf)
		v.ProjectID, v.Inputs, v.Error = project, inputs, combine.ErrorMessage(err)
		return ui.renderWorkflow(w, r, http.StatusBadRequest, v)
	} else if err != nil {
		return err
	}
	return ui.redirect(w, r, "/executions/"+url.PathEscape(e.ID), "started")
}

// parseForm reads a posted form (urlencoded; the body limit applies).
func parseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		if strings.Contains(err.Error(), "too large") {
			return combine.Errorf(combine.ETOOLARGE, "the form is too large")
		}
		return combine.Errorf(combine.EINVALID, "the form could not be read")
	}
	return nil
}

// stepNode is a step of the workflow page's step tree.
type stepNode struct {
	Def        *combine.StepDef
	TypeName   string
	AcceptedBy []string
	Children   []stepNode
}

// stepsOf builds the step tree of a workflow for the page.
func stepsOf(wf *combine.Workflow, steps []combine.StepDef) []stepNode {
	out := make([]stepNode, 0, len(steps))
	for i := range steps {
		s := &steps[i]
		n := stepNode{Def: s}
		if s.IsIteration() {
			n.TypeName = docTypeName(wf, s.Iterate.DocType)
			n.Children = stepsOf(wf, s.Steps)
		} else {
			n.TypeName = docTypeName(wf, s.Produces)
			if dt := wf.DocumentTypes[s.Produces]; dt.AcceptanceRequired {
				n.AcceptedBy = dt.AcceptedBy
			}
		}
		out = append(out, n)
	}
	return out
}
