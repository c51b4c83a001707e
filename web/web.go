// Package web is The Combine's browser interface: server-rendered pages
// (html/template) over the same services as the API, with static assets
// embedded in the binary. Every page works without JavaScript — forms
// post and redirect —; a small script adds live progress (the
// execution's event stream) and conveniences to the document editor.
//
// Pages are routes of the server's route table (see routes.go), each with
// the access it needs; the server enforces it and hands refusals to
// RenderError, which sends an anonymous browser to sign in and shows
// anything else as a readable page with the request id.
package web

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/server"
)

// Options configure the UI.
type Options struct {
	// Costs shows costs per execution when set (see CostSource).
	Costs CostSource
}

// UI is the web interface: its route table and its renderer.
type UI struct {
	srv    *server.Server
	log    *slog.Logger
	tmpl   map[string]*template.Template
	opts   Options
	secure bool
}

// Mount builds the UI on srv's services and adds its pages to srv's
// route table; srv then renders the errors of page routes through it.
// Missing services are an error here, not a 500 at request time.
func Mount(srv *server.Server, opts Options) (*UI, error) {
	if srv.Engine.Workflows == nil || srv.Engine.Executions == nil || srv.Engine.Documents == nil || srv.Engine.Steps == nil {
		return nil, errors.New("web: the engine's services (workflows, executions, documents, steps) are required")
	}
	id := srv.Identity
	if id.Users == nil || id.Sessions == nil || id.Tokens == nil || id.Audit == nil || id.Login == nil {
		return nil, errors.New("web: the identity services (users, sessions, tokens, audit, login) are required")
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	ui := &UI{srv: srv, log: srv.Logger(), tmpl: t, opts: opts, secure: srv.Config().SessionSecureCookies}
	srv.Pages = ui
	return ui, nil
}

// caller returns the signed-in user of a page request. Page routes that
// need one declare it, so it is never nil there.
func caller(r *http.Request) *combine.AuthContext {
	return combine.AuthFromContext(r.Context())
}
