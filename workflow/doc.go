// Package workflow loads, validates and serves workflow.v1 definitions:
// the built-in ones embedded in the binary and those of WORKFLOWS_DIR,
// each with its SHA-256-pinned prompt set and its document schemas.
//
// A Registry is built once at start by Load and is immutable afterwards;
// it implements combine.WorkflowService.
package workflow

//go:generate go run ./internal/manifestgen -dir prompts
