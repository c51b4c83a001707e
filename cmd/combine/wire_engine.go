package main

import (
	"context"

	"github.com/thecombine/combine/server"
)

// wireEngine builds the workflow registry, the execution service and the
// runner, and plugs them into srv.
func (a *app) wireEngine(ctx context.Context, srv *server.Server) error {
	return nil
}
