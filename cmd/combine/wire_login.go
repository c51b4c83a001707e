package main

import (
	"context"

	"github.com/thecombine/combine/server"
)

// wireLogin builds the OAuth/OIDC providers (once per process) and plugs
// them into srv.
func (a *app) wireLogin(ctx context.Context, srv *server.Server) error {
	return nil
}
