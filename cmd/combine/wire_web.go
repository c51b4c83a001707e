package main

import (
	"github.com/thecombine/combine/server"
	"github.com/thecombine/combine/web"
)

// wireWeb mounts the browser interface on the services already wired
// (identity and engine), so it must come after them. Costs per execution
// appear once a cost source exists (web.Options.Costs).
func (a *app) wireWeb(srv *server.Server) error {
	_, err := web.Mount(srv, web.Options{})
	return err
}
