package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/thecombine/combine/internal/logwriter"
	"github.com/thecombine/combine/server"
)

func runServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "serve", "serve")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	// The access log writes a line per request: batch the lines into few
	// system calls (flushed when serve returns).
	logOut := logwriter.New(env.stderr)
	defer logOut.Close()
	logger := newLogger(logOut, cfg)
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	start := time.Now()

	a, err := openApp(ctx, cfg, logger, true)
	if err != nil {
		return err
	}
	defer a.close()
	release, err := a.db.ClaimServer(ctx, 5*time.Second)
	if err != nil {
		return err
	}
	defer release()

	srv := server.New(cfg, logger, a.health, a.reg)
	if err := a.wireIdentity(ctx, srv); err != nil {
		return err
	}
	if err := a.wireLogin(ctx, srv); err != nil {
		return err
	}
	if err := a.wireEngine(ctx, srv); err != nil {
		return err
	}
	if err := a.wireWeb(srv); err != nil {
		return err
	}
	v, err := a.migrate(ctx)
	if err != nil {
		return err
	}
	if err := a.afterMigrate(ctx); err != nil {
		return err
	}
	if _, err := srv.Handler(); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}

	// Background components run until Stop, after the HTTP drain: their
	// context must not end with the signal that starts the shutdown.
	bgCtx := context.WithoutCancel(ctx)
	for _, b := range a.background {
		if err := b.Start(bgCtx); err != nil {
			ln.Close()
			return err
		}
	}
	logger.Info("combine is ready",
		"addr", ln.Addr().String(),
		"environment", cfg.Environment,
		"database", string(a.db.Dialect),
		"schema_version", v,
		"startup_ms", time.Since(start).Milliseconds())

	err = srv.Serve(ctx, ln)
	if a.identity != nil {
		// Counts of repeated failures still in their window.
		a.identity.FlushAudit()
	}

	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	for i := len(a.background) - 1; i >= 0; i-- {
		if serr := a.background[i].Stop(stopCtx); serr != nil {
			logger.Warn("stopping background component", "error", serr)
		}
	}
	if err != nil {
		return err
	}
	logger.Info("shutdown complete")
	return nil
}
