package main

import (
	"context"
	"log/slog"

	"github.com/thecombine/combine/events"
	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/identity"
	"github.com/thecombine/combine/server"
)

// wireIdentity builds users, sessions, tokens, sign-in links and the
// audit log, and plugs them into srv: the authenticator, the denial hook
// (audited) and the identity routes. The login area finds the
// LoginService in srv.Identity.Login.
func (a *app) wireIdentity(ctx context.Context, srv *server.Server) error {
	svc := identity.New(a.db, identity.OptionsFromConfig(a.cfg), a.logger)
	a.identity = svc
	srv.Authn = svc
	srv.Credentials = svc
	srv.Hooks.Denied = svc.RecordDenied
	srv.Identity = server.IdentityDeps{
		Login: svc, Users: svc, Sessions: svc, Tokens: svc, Links: svc, Audit: svc,
	}
	// The credential cache is fed by the shared LISTEN connection on
	// PostgreSQL and follows the audit log on SQLite (Start); until its
	// feed is up it is bypassed.
	cache := svc.Cache()
	a.eventNotifier().Listen(identity.NotifyChannel, cache)
	a.background = append(a.background, cache)
	a.reg.MustRegister(cache.Collectors()...)
	a.health.Register(health.Component{Name: "cache", Check: cache.Check})
	return nil
}

// eventNotifier returns the process's one LISTEN connection to
// PostgreSQL (created on first use), shared by the execution event
// streams and the credential cache. It starts before and stops after the
// components that depend on it.
func (a *app) eventNotifier() *events.Notifier {
	if a.notifier == nil {
		a.notifier = events.NewNotifier(a.db, a.logger)
		a.notifier.Poll = a.cfg.EventsPoll
		a.reg.MustRegister(a.notifier.Collectors()...)
		a.background = append(a.background, a.notifier)
		a.health.Register(health.Component{Name: "event_notifier", Check: a.notifier.Check})
	}
	return a.notifier
}

// afterMigrate runs start-up tasks that need the schema: while no active
// admin exists, it logs a one-time setup link (30 minutes, single use)
// that makes its opener the first admin.
func (a *app) afterMigrate(ctx context.Context) error {
	if a.identity == nil {
		return nil
	}
	secret, expires, ok, err := a.identity.CreateSetupLink(ctx)
	if err != nil || !ok {
		return err
	}
	// The link is a credential, logged on purpose: it is the only way in
	// for a fresh installation without an identity provider, it works once,
	// for 30 minutes, and only while no admin exists.
	a.logger.Warn("no admin exists yet: open this one-time setup link to become the first admin (or run `combine users create --role admin`)",
		slog.String("setup_url", a.identity.LinkURL(secret)),
		slog.Time("expires_at", expires))
	return nil
}

// identityService builds the identity service for a CLI command; changes
// are audited with the actor "cli".
func (a *app) identityService() *identity.Service {
	opts := identity.OptionsFromConfig(a.cfg)
	opts.DefaultActor = "cli"
	return identity.New(a.db, opts, a.logger)
}
