package main

import (
	"context"
	"errors"

	"github.com/thecombine/combine/login"
	"github.com/thecombine/combine/server"
)

// wireLogin builds the OAuth/OIDC providers (once per process) and plugs
// them into srv. With no provider configured it leaves srv.Login empty:
// the sign-in page then explains one-time sign-in links. A provider that
// cannot be discovered at start does not stop the server; it is retried
// lazily and shown as degraded (login_<provider>) in /health.
func (a *app) wireLogin(ctx context.Context, srv *server.Server) error {
	cfg := a.cfg
	if !cfg.Google.Enabled() && !cfg.Microsoft.Enabled() && !cfg.OIDC.Enabled() {
		return nil
	}
	if srv.Identity.Login == nil {
		return errors.New("sign-in providers are configured but the identity service is not wired")
	}
	opts := login.Options{Logger: a.logger, Registerer: a.reg}
	if srv.Identity.Audit != nil {
		opts.OnFailure = login.AuditFailures(srv.Identity.Audit)
	}
	svc := login.New(ctx, cfg, srv.Identity.Login, opts)
	svc.RegisterHealth(a.health)
	srv.Login = server.LoginDeps{Service: svc}
	return nil
}
