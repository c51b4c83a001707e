package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/identity"
)

// listFlag collects a repeatable flag; each value may be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// openIdentity loads the configuration, opens and migrates the database
// and returns the identity service for an administration command.
func openIdentity(ctx context.Context, env *cliEnv) (*identity.Service, func(), error) {
	cfg, err := loadConfig(env)
	if err != nil {
		return nil, nil, err
	}
	a, err := openApp(ctx, cfg, newLogger(env.stderr, cfg), false)
	if err != nil {
		return nil, nil, err
	}
	if _, err := a.db.Migrate(ctx); err != nil {
		a.close()
		return nil, nil, err
	}
	return a.identityService(), a.close, nil
}

// cliError turns a service error into the CLI's: invalid values are usage
// errors (exit 2), anything else a one-line failure (exit 1).
func cliError(err error) error {
	var e *combine.Error
	if errors.As(err, &e) {
		if e.Code == combine.EINVALID {
			return usagef("%s", e.Message)
		}
		return errors.New(e.Message)
	}
	return err
}

func runUsers(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usagef("expected a subcommand: create, list or login-link")
	}
	switch args[0] {
	case "create":
		return runUsersCreate(ctx, env, args[1:])
	case "list":
		return runUsersList(ctx, env, args[1:])
	case "login-link":
		return runUsersLoginLink(ctx, env, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(env.stderr, "usage: combine users create|list|login-link [flags]")
		return flag.ErrHelp
	}
	return usagef("unknown subcommand %q (expected create, list or login-link)", args[0])
}

func runUsersCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "users create", "users create --email E --name N --role R [--role R]...")
	email := fs.String("email", "", "the user's email address (required)")
	name := fs.String("name", "", "the user's display name")
	var roles listFlag
	fs.Var(&roles, "role", "a role: viewer, operator, admin or a reviewer role (repeatable or comma-separated; required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case *email == "":
		return usagef("--email is required")
	case len(roles) == 0:
		return usagef("--role is required")
	}
	for _, r := range roles {
		if !combine.IsValidRole(strings.ToLower(r)) {
			return usagef("unknown role %q (valid: viewer, operator, admin, %s)", r, strings.Join(combine.ReviewerRoles, ", "))
		}
	}
	svc, done, err := openIdentity(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	u, _, err := svc.EnsureUser(ctx, combine.UserCreate{Email: *email, Name: *name, Roles: roles})
	if err != nil {
		return cliError(err)
	}
	return json.NewEncoder(env.stdout).Encode(u)
}

func runUsersList(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "users list", "users list")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	svc, done, err := openIdentity(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	enc := json.NewEncoder(env.stdout)
	for off := 0; ; off += 1000 {
		us, err := svc.FindUsers(ctx, combine.UserFilter{Limit: 1000, Offset: off})
		if err != nil {
			return cliError(err)
		}
		for _, u := range us {
			if err := enc.Encode(u); err != nil {
				return err
			}
		}
		if len(us) < 1000 {
			return nil
		}
	}
}

func runUsersLoginLink(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "users login-link", "users login-link --email E")
	email := fs.String("email", "", "the email of an existing user (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	} else if *email == "" {
		return usagef("--email is required")
	}
	svc, done, err := openIdentity(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	secret, expires, err := svc.CreateLoginLink(ctx, *email)
	if err != nil {
		return cliError(err)
	}
	fmt.Fprintln(env.stdout, svc.LinkURL(secret))
	fmt.Fprintf(env.stderr, "one-time sign-in link for %s: single use, valid until %s\n", strings.ToLower(*email), expires.Format("2006-01-02 15:04:05 MST"))
	return nil
}

func runTokens(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(env.stderr, "usage: combine tokens create --email E --name N [--expires-in-days D] [--scope P]...")
			return flag.ErrHelp
		}
		return usagef("expected the subcommand create")
	}
	fs := newFlagSet(env, "tokens create", "tokens create --email E --name N [--expires-in-days D] [--scope P]...")
	email := fs.String("email", "", "the owner's email (required)")
	name := fs.String("name", "", "a name for the token (required)")
	days := fs.Int("expires-in-days", -1, "lifetime in days (default PAT_DEFAULT_EXPIRY_DAYS; 0 = never, only when PAT_MAX_EXPIRY_DAYS is 0)")
	var scopes listFlag
	fs.Var(&scopes, "scope", "limit the token to this permission (repeatable or comma-separated)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case *email == "":
		return usagef("--email is required")
	case strings.TrimSpace(*name) == "":
		return usagef("--name is required")
	}
	in := combine.TokenCreate{Name: *name}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "expires-in-days" {
			in.ExpiresInDays = days
		}
	})
	for _, sc := range scopes {
		p, ok := combine.ParsePermission(sc)
		if !ok {
			return usagef("unknown scope %q", sc)
		}
		in.Scopes = append(in.Scopes, p)
	}
	svc, done, err := openIdentity(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	us, err := svc.FindUsers(ctx, combine.UserFilter{Email: *email, Limit: 2})
	if err != nil {
		return cliError(err)
	}
	switch len(us) {
	case 0:
		return fmt.Errorf("no user has email %s (create one with `combine users create`)", strings.ToLower(*email))
	case 2:
		return fmt.Errorf("several users have email %s; users are identified by their provider, not by email", strings.ToLower(*email))
	}
	tok, text, err := svc.CreateToken(ctx, us[0].ID, in, nil)
	if err != nil {
		return cliError(err)
	}
	fmt.Fprintln(env.stdout, text)
	exp := "never"
	if tok.ExpiresAt != nil {
		exp = tok.ExpiresAt.Format("2006-01-02")
	}
	fmt.Fprintf(env.stderr, "token %s (%s) for %s, expires %s\n", tok.ID, tok.Display, us[0].Email, exp)
	return nil
}
