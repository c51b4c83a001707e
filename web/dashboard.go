package web

import (
	"net/http"

	"github.com/thecombine/combine"
)

// openStatuses are the statuses of executions that may have work items
// waiting for people.
var openStatuses = []combine.ExecutionStatus{
	combine.StatusWaitingAcceptance, combine.StatusWaitingClarification,
	combine.StatusWaitingInput, combine.StatusRunning,
}

type myItem struct {
	Exec   *combine.Execution
	Item   *combine.WorkItem
	Label  string
	Why    string
	Anchor string
}

type statusCount struct {
	Status combine.ExecutionStatus
	Count  int
}

type dashboardView struct {
	Mine      []myItem
	Recent    []*combine.Execution
	Counts    []statusCount
	Total     int
	Workflows []*combine.Workflow
}

// handleDashboard shows what waits for the caller across executions (by
// their permissions and reviewer roles), the latest executions and how
// many are in each status.
func (ui *UI) handleDashboard(w http.ResponseWriter, r *http.Request) error {
	a := caller(r)
	ctx := r.Context()
	v := dashboardView{}
	eng := ui.srv.Engine
	if a.Can(combine.PermWorkflowRead) {
		wfs, err := eng.Workflows.ListWorkflows(ctx)
		if err != nil {
			return err
		}
		v.Workflows = wfs
	}
	if a.Can(combine.PermExecutionRead) {
		names := map[string]*combine.Workflow{}
		for _, wf := range v.Workflows {
			names[wf.ID] = wf
		}
		for _, st := range openStatuses {
			list, _, err := eng.Executions.ListExecutions(ctx, combine.ExecutionFilter{Status: st, Limit: 100})
			if err != nil {
				return err
			}
			for _, e := range list {
				for _, it := range e.Pending {
					if ok, _ := mayAct(a, it); ok {
						v.Mine = append(v.Mine, myItem{Exec: e, Item: it, Label: itemLabel(names[e.WorkflowID], it),
							Why: whyMine(a, it), Anchor: itemAnchor(it)})
					}
				}
			}
		}
		recent, total, err := eng.Executions.ListExecutions(ctx, combine.ExecutionFilter{Limit: 10})
		if err != nil {
			return err
		}
		v.Recent, v.Total = recent, total
		for _, st := range combine.AllExecutionStatuses {
			_, n, err := eng.Executions.ListExecutions(ctx, combine.ExecutionFilter{Status: st, Limit: 1})
			if err != nil {
				return err
			}
			v.Counts = append(v.Counts, statusCount{Status: st, Count: n})
		}
	}
	return ui.render(w, r, http.StatusOK, "dashboard", page{Title: "Dashboard", Nav: "home", Data: v})
}
