package main

import (
	"context"
	"fmt"

	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/workflow"
)

// wireEngine builds the workflow registry, the execution service and the
// runner, and plugs them into srv.
func (a *app) wireEngine(ctx context.Context, srv *server.Server) error {
	reg, err := workflow.Load(workflow.Options{Dir: a.cfg.WorkflowsDir})
	if err != nil {
		return fmt.Errorf("load workflow definitions: %w", err)
	}
	wfs, _ := reg.ListWorkflows(ctx)
	a.logger.Info("workflow definitions loaded", "count", len(wfs), "workflows_dir", a.cfg.WorkflowsDir)
	srv.Engine.Workflows = reg
	return nil
}
