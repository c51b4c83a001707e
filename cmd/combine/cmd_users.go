package main

import (
	"context"
	"errors"
)

func runUsers(ctx context.Context, env *cliEnv, args []string) error {
	return errors.New("user management is not available in this build")
}

func runTokens(ctx context.Context, env *cliEnv, args []string) error {
	return errors.New("token management is not available in this build")
}
