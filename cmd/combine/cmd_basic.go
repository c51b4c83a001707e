package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/workflow"
)

// loadConfig reads the environment, printing every problem on failure.
func loadConfig(env *cliEnv) (*config.Config, error) {
	cfg, err := config.Load(config.FromEnvironment())
	if err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			fmt.Fprintln(env.stderr, ve.Error())
			return nil, &exitError{code: 1}
		}
		return nil, err
	}
	return cfg, nil
}

func runVersion(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "version", "version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintln(env.stdout, combine.Version)
	return nil
}

func runConfig(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "config", "config check")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || fs.Arg(0) != "check" {
		return usagef("expected `config check`")
	}
	check := newFlagSet(env, "config check", "config check  (validates the environment; exit 1 listing every problem)")
	if err := parseFlags(check, fs.Args()[1:]); err != nil {
		return err
	}
	if check.NArg() > 0 {
		return usagef("unexpected argument %q", check.Arg(0))
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(env.stderr, "warning:", w)
	}
	// The workflow definitions are configuration too: check them the way
	// serve loads them, listing every problem.
	if _, err := workflow.Load(workflow.Options{Dir: cfg.WorkflowsDir}); err != nil {
		return fmt.Errorf("load workflow definitions: %w", err)
	}
	fmt.Fprintf(env.stdout, "configuration is valid (environment %s, database %s)\n", cfg.Environment, redactURL(cfg.DatabaseURL))
	return nil
}

// redactURL hides a password in a database URL.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.LastIndex(s, "@"); at > i {
			cred := s[i+3 : at]
			if user, _, ok := strings.Cut(cred, ":"); ok {
				return s[:i+3] + user + ":***" + s[at:]
			}
		}
	}
	return s
}

func runHealthcheck(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "healthcheck", "healthcheck [URL]")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("expected at most one URL")
	}
	target := fs.Arg(0)
	if target == "" {
		target = defaultHealthURL()
	} else if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		return usagef("URL %q must start with http:// or https://", target)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return usagef("bad URL %q: %v", target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(env.stderr, "unhealthy: %v\n", err)
		return &exitError{code: 1}
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(env.stderr, "unhealthy: %s answered %d\n", target, resp.StatusCode)
		return &exitError{code: 1}
	}
	fmt.Fprintf(env.stdout, "healthy: %s answered %d\n", target, resp.StatusCode)
	return nil
}

// defaultHealthURL is this server's readiness URL from ADDR or PORT: the
// listen host when ADDR names one, loopback otherwise.
func defaultHealthURL() string {
	host, port := "127.0.0.1", os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	if addr := os.Getenv("ADDR"); addr != "" {
		if h, p, err := net.SplitHostPort(addr); err == nil {
			port = p
			if h != "" && h != "0.0.0.0" && h != "::" {
				host = h
			}
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/health/ready"
}

func runMigrate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "migrate", "migrate")
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
	logger := newLogger(env.stderr, cfg)
	a, err := openApp(ctx, cfg, logger, false)
	if err != nil {
		return err
	}
	defer a.close()
	a.addEngineMigrations()
	v, err := a.migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "database at schema version %d\n", v)
	return nil
}
