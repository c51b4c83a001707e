// Command combine is The Combine's single binary: the server, migrations,
// the health probe, configuration checks and administration commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of the binary.
type command struct {
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what every command receives: its streams and the environment.
type cliEnv struct {
	stdout, stderr io.Writer
}

// usageError is a bad flag or argument: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitError carries an exit status with an already-printed message.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func commands() map[string]command {
	return map[string]command{
		"serve":       {"run the HTTP server and the execution runner until SIGTERM/SIGINT", runServe},
		"migrate":     {"apply database migrations and exit", runMigrate},
		"healthcheck": {"exit 0 if URL (default: this server's /health/ready) answers 2xx within 5 s", runHealthcheck},
		"version":     {"print the version", runVersion},
		"config":      {"configuration tools: `config check` validates the environment", runConfig},
		"users":       {"manage users: create, list, login-link", runUsers},
		"tokens":      {"issue personal access tokens: create", runTokens},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// After the first signal starts the graceful shutdown, a second one
	// ends the process at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], &cliEnv{stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and maps errors to exit statuses:
// 0 success, 1 failure, 2 bad usage.
func run(ctx context.Context, args []string, env *cliEnv) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(env.stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "combine: unknown command %q (run `combine --help`)\n", args[0])
		return 2
	}
	err := cmd.run(ctx, env, args[1:])
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.stderr, "combine %s: %s\n", args[0], ue.msg)
		return 2
	case errors.As(err, &ee):
		return ee.code
	}
	fmt.Fprintf(env.stderr, "combine %s: %v\n", args[0], err)
	return 1
}

func printUsage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: combine <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nEvery command reads the same environment as serve; see docs/configuration.md.\nRun `combine <command> --help` for a command's flags.")
}

// newFlagSet returns a flag set whose errors come back as usage errors.
func newFlagSet(env *cliEnv, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "usage: combine %s\n", usage)
		fs.SetOutput(env.stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args, turning flag errors into one-line usage errors
// and --help into a printed usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	// The flag package prints the usage on every error; only --help should.
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return flag.ErrHelp
		}
		return usagef("%v", err)
	}
	return nil
}
