package main

import (
	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/web"
)

// wireWeb mounts the browser interface on the services already wired
// (identity and engine, the cost ledger included), so it must come after
// them. The execution page shows the LLM costs from the ledger.
func (a *app) wireWeb(srv *server.Server) error {
	_, err := web.Mount(srv, web.Options{Costs: web.LedgerCosts(srv.Engine.Costs)})
	return err
}
